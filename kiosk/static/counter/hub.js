// Counter hub: keep the queue summary fresh from GET /api/v1/queue (every few seconds and
// when the window gets the focus back). An API read does not count as cashier activity, so
// this never holds off the counter's automatic lock.
(function () {
  "use strict";
  var card = document.querySelector(".hub-queue[data-queue-url]");
  if (!card) {
    return;
  }
  var url = card.getAttribute("data-queue-url");
  var every = parseInt(card.getAttribute("data-refresh-ms"), 10) || 10000;
  var count = card.querySelector(".hub-waiting .count");
  var words = card.querySelector(".hub-waiting .words");
  var call = card.querySelector("button[data-key='F4']");
  var busy = false;

  function show(data) {
    var waiting = data.waiting || [];
    var longest = waiting.reduce(function (m, t) { return Math.max(m, t.minutes_waited); }, 0);
    count.textContent = String(waiting.length);
    words.textContent = (waiting.length === 1 ? " person" : " people") + " waiting" +
      (waiting.length ? ", longest " + longest + " min" : "");
    if (call) {
      call.classList.toggle("primary", waiting.length > 0 && !data.current_visit);
    }
  }

  function refresh() {
    if (busy || document.hidden) {
      return;
    }
    busy = true;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { show(data); } })
      .catch(function () { /* offline for a moment: keep what is shown */ })
      .then(function () { busy = false; });
  }

  window.setInterval(refresh, every);
  window.addEventListener("focus", refresh);
  card.setAttribute("data-live", "on");
})();
