// Counter queue page: keep the waiting list fresh from GET /api/v1/queue (every few seconds
// and when the window gets the focus back) unless the cashier is working inside it, and show
// how long the current customer has been served. An API read does not count as cashier
// activity (kiosk/views/counter_lock.py), so this never holds off the counter's auto-lock.
(function () {
  "use strict";
  var list = document.getElementById("waiting-list");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function parse(name) {
    try { return JSON.parse(list.getAttribute(name) || "{}"); } catch (e) { return {}; }
  }

  function hidden(name, value) {
    return el("input", { type: "hidden", name: name, value: value });
  }

  function callForm(t, callUrl, csrf, key) {
    var form = el("form", { method: "post", action: callUrl.replace(/\/0\/call$/, "/" + t.id + "/call") });
    form.appendChild(hidden("csrf_token", csrf));
    form.appendChild(hidden("key", key + "-" + t.id));
    form.appendChild(el("button", { type: "submit", "class": "quiet", "aria-label": "Call " + t.number }, "Call"));
    return form;
  }

  function show(data, labels) {
    var waiting = data.waiting || [];
    var callUrl = list.getAttribute("data-call-url");
    var csrfInput = document.querySelector('.queue-actions input[name="csrf_token"]');
    var keyInput = document.querySelector('.queue-actions input[name="key"]');
    var parts = [];
    var count = el("p", { "class": "count" });
    count.appendChild(el("strong", {}, String(waiting.length)));
    count.appendChild(document.createTextNode(" waiting"));
    parts.push(count);
    if (waiting.length) {
      var table = el("table");
      table.appendChild(el("caption", { "class": "visually-hidden" }, "Waiting tickets in calling order"));
      var head = el("tr");
      [["Number"], ["Service"], ["Language"], ["Waited", "num"]].forEach(function (h) {
        head.appendChild(el("th", h[1] ? { scope: "col", "class": h[1] } : { scope: "col" }, h[0]));
      });
      var action = el("th", { scope: "col" });
      action.appendChild(el("span", { "class": "visually-hidden" }, "Action"));
      head.appendChild(action);
      table.appendChild(el("thead")).appendChild(head);
      var body = table.appendChild(el("tbody"));
      waiting.forEach(function (t) {
        var row = el("tr", t.minutes_waited >= 20 ? { "class": "long-wait" } : {});
        row.appendChild(el("td", { "class": "ticket-number" }, t.number));
        var service = el("td", {}, labels.services[t.service] || t.service);
        if (t.for_station) {
          service.appendChild(el("br"));
          service.appendChild(el("small", {}, "for " + t.for_station));
        }
        row.appendChild(service);
        row.appendChild(el("td", {}, labels.languages[t.language] || t.language));
        row.appendChild(el("td", { "class": "num" }, t.minutes_waited + " min"));
        var cell = row.appendChild(el("td"));
        if (callUrl && csrfInput && keyInput) {
          cell.appendChild(callForm(t, callUrl, csrfInput.value, keyInput.value));
        }
        body.appendChild(row);
      });
      parts.push(table);
    } else {
      parts.push(el("p", {}, "Nobody is waiting."));
    }
    var serving = data.serving || [];
    if (serving.length) {
      parts.push(el("h2", {}, "At the counters"));
      var line = el("p", { "class": "serving-list" });
      serving.forEach(function (s) {
        var span = el("span");
        span.appendChild(el("strong", {}, s.number));
        span.appendChild(document.createTextNode(" " + s.counter));
        line.appendChild(span);
      });
      parts.push(line);
    }
    list.replaceChildren.apply(list, parts);
  }

  if (list && list.getAttribute("data-queue-url")) {
    var url = list.getAttribute("data-queue-url");
    var every = parseInt(list.getAttribute("data-refresh-ms"), 10) || 8000;
    var labels = { services: parse("data-services"), languages: parse("data-languages") };
    var busy = false;
    var refresh = function () {
      if (busy || document.hidden || list.contains(document.activeElement)) {
        return;
      }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (data && !list.contains(document.activeElement)) { show(data, labels); }
        })
        .catch(function () { /* offline for a moment: keep the list shown */ })
        .then(function () { busy = false; });
    };
    window.setInterval(refresh, every);
    window.addEventListener("focus", refresh);
    list.setAttribute("data-live", "on");
  }

  var timer = document.querySelector(".timer[data-started]");
  if (timer) {
    var started = Date.parse(timer.getAttribute("data-started"));
    var tick = function () {
      var s = Math.max(0, Math.floor((Date.now() - started) / 1000));
      var m = Math.floor(s / 60);
      timer.textContent = m + ":" + String(s % 60).padStart(2, "0");
    };
    tick();
    window.setInterval(tick, 1000);
  }
})();
