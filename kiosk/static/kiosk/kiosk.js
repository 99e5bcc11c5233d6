/* Customer kiosk behaviour: keypads, the bill scanner, the idle timeout and the card payment
   status. No framework; the server renders every screen. */
(function () {
  "use strict";
  var body = document.body;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;

  // Navigate without leaving entries in the browser history.
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest("a[href]");
    if (a && a.origin === location.origin) {
      ev.preventDefault();
      location.replace(a.href);
    }
  });

  // On-screen keypads and keyboards type into their target input.
  document.querySelectorAll(".keypad, .keyboard").forEach(function (pad) {
    var input = document.getElementById(pad.dataset.target);
    pad.addEventListener("click", function (ev) {
      var key = ev.target.closest("[data-key]");
      if (!key || !input) return;
      var k = key.dataset.key;
      if (k === "back") input.value = input.value.slice(0, -1);
      else if (k === "clear") input.value = "";
      else if (!input.maxLength || input.maxLength < 0 || input.value.length < input.maxLength) input.value += k;
      input.removeAttribute("aria-invalid");
    });
  });

  // The bill scanner types 30 digits and Enter, wherever the focus is.
  var scanned = "";
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    var inForm = t && t.closest && t.closest("form[data-accepts-scan]");
    if (/^[0-9]$/.test(ev.key)) { scanned += ev.key; if (scanned.length > 60) scanned = scanned.slice(-60); return; }
    if (ev.key === "Enter" && scanned.length >= 20 && !inForm) {
      ev.preventDefault();
      var form = document.getElementById("scan-form");
      form.elements.code.value = scanned;
      scanned = "";
      form.submit();
      return;
    }
    if (ev.key !== "Shift") scanned = "";
  }, true);

  // Idle: after a quiet period ask "Need more time?", then wipe the visit.
  var idleMs = parseInt(body.dataset.idleSeconds || "60", 10) * 1000;
  var warnS = parseInt(body.dataset.idleWarningSeconds || "30", 10);
  var dialog = document.getElementById("idle-dialog");
  var onStart = location.pathname === body.dataset.startUrl;
  var idleTimer = null, countTimer = null, left = warnS;

  var beforeEnd = function () { return Promise.resolve(); };

  function endVisit() {
    beforeEnd().catch(function () {}).then(postEnd);
  }
  function postEnd() {
    var form = new FormData();
    form.append("csrf_token", csrf);
    form.append("reason", "idle");
    fetch(body.dataset.endUrl, { method: "POST", body: form, credentials: "same-origin", redirect: "manual" })
      .catch(function () {})
      .then(function () { location.replace(body.dataset.startUrl); });
  }
  function warn() {
    if (body.dataset.busy === "1") { arm(); return; }
    left = warnS;
    document.getElementById("idle-count").textContent = left;
    if (dialog && !dialog.open) dialog.showModal();
    countTimer = setInterval(function () {
      left -= 1;
      document.getElementById("idle-count").textContent = Math.max(left, 0);
      if (left <= 0) { clearInterval(countTimer); endVisit(); }
    }, 1000);
  }
  function arm() {
    clearTimeout(idleTimer);
    clearInterval(countTimer);
    if (onStart) return;
    idleTimer = setTimeout(warn, idleMs);
  }
  ["pointerdown", "keydown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { if (!dialog || !dialog.open) arm(); }, true);
  });
  if (dialog) {
    document.getElementById("idle-more").addEventListener("click", function () { dialog.close(); arm(); });
    document.getElementById("idle-done").addEventListener("click", function () { clearInterval(countTimer); endVisit(); });
    dialog.addEventListener("cancel", function (ev) { ev.preventDefault(); });
  }
  arm();
  body.dataset.ready = "1";

  // Card payment: create it through the payments API, then follow its status.
  if (body.dataset.pay === "1") pay();

  var OFFLINE = /offline|unavailable|unreachable|gateway/;

  var BUSY = { starting: 1, waiting: 1, processing: 1, checking: 1 };

  function label(button, name) {
    button.querySelectorAll("[data-label]").forEach(function (el) { el.hidden = el.dataset.label !== name; });
  }

  function show(state, reason) {
    document.querySelectorAll(".pay-status .state").forEach(function (el) {
      el.hidden = el.dataset.state !== state;
    });
    if (state === "declined") {
      var known = document.querySelector('[data-reason-for="' + reason + '"]');
      document.querySelectorAll("[data-reason-for]").forEach(function (el) { el.hidden = true; });
      (known || document.querySelector('[data-reason-for="other"]')).hidden = false;
    }
    // Declined or a hiccup: another try may work. Reader offline or the payment refused here:
    // another card will not help; offer a person at the counter instead.
    var retry = document.querySelector(".after-fail");
    retry.hidden = !(state === "declined" || state === "error" || state === "canceled");
    label(retry, state === "declined" ? "another" : "again");
    document.querySelector(".pay-again").hidden = state !== "duplicate";
    document.querySelector(".see-person").hidden = !(state === "offline" || state === "refused");
    body.dataset.busy = state === "processing" ? "1" : "0";
    var cancel = document.getElementById("pay-cancel");
    cancel.disabled = state === "processing";
    label(cancel, BUSY[state] ? "cancel" : "back");
  }

  function api(method, url, data, headers) {
    var h = { "Accept": "application/json", "X-CSRFToken": csrf };
    if (data) h["Content-Type"] = "application/json";
    for (var k in headers || {}) h[k] = headers[k];
    return fetch(url, { method: method, headers: h, credentials: "same-origin", body: data ? JSON.stringify(data) : undefined })
      .then(function (r) { return r.json().then(function (j) { return { status: r.status, body: j }; }); });
  }

  function pay() {
    var d = body.dataset, paymentId = null, stopped = false;
    var amount = parseInt(d.amount, 10);
    var cancelForm = document.querySelector(".cancel-form");
    // Leaving on the idle timeout: release the reader first (Cancel does the same).
    beforeEnd = function () {
      if (!paymentId || stopped) return Promise.resolve();
      stopped = true;
      return api("POST", d.payUrl + "/" + paymentId + "/cancel", null, { "Idempotency-Key": d.key + "-cancel" });
    };
    cancelForm.addEventListener("submit", function (ev) {
      if (!paymentId || stopped) return;
      ev.preventDefault();
      stopped = true;
      cancelForm.elements.payment_id.value = paymentId;  // the server reports what happened
      api("POST", d.payUrl + "/" + paymentId + "/cancel", null, { "Idempotency-Key": d.key + "-cancel" })
        .catch(function () {})
        .then(function () { cancelForm.submit(); });
    });
    var order = {
      account_number: d.account, amount_cents: amount, language: d.lang,
      tenders: [{ kind: "card", amount_cents: amount }]
    };
    if (d.email) order.email = d.email;  // chosen because the printer cannot print
    if (d.confirmDuplicate === "1") order.confirm_duplicate = true;
    api("POST", d.payUrl, order, { "Idempotency-Key": d.key }).then(function (res) {
      if (res.status >= 400 || !res.body.id) {
        var error = (res.body && res.body.error) || {};
        var code = error.code || "";
        if (code === "duplicate_suspected") {
          document.querySelector('[data-fill="receipt_number"]').textContent = error.receipt_number || "";
          show("duplicate");
        } else if (OFFLINE.test(code) || res.status === 503) show("offline");
        else if (res.status >= 500) show("error");
        else show("refused");  // e.g. the business day is closed: another card will not help
        return;
      }
      paymentId = res.body.id;
      follow(res.body);
    }).catch(function () { show("error"); });

    function follow(p) {
      if (stopped) return;
      var s = p.status;
      if (s === "succeeded") { stopped = true; location.replace(d.paidUrl.replace("PAYMENT_ID", p.id)); return; }
      if (s === "failed") {
        stopped = true;
        var code = (p.failure && p.failure.code) || "";
        show(OFFLINE.test(code) ? "offline" : "declined", code);
        return;
      }
      if (s === "canceled") {
        stopped = true;
        show(p.failure && p.failure.code === "reader_offline" ? "offline" : "canceled");
        return;
      }
      // Start failed and the processor has not yet confirmed the cancel: keep checking.
      if (p.reader_status === "offline") show("checking");
      else show(s === "processing" ? "processing" : "waiting");
      setTimeout(function () {
        api("GET", d.payUrl + "/" + p.id).then(function (r) {
          if (r.status >= 400) { show("error"); return; }
          follow(r.body);
        }).catch(function () { setTimeout(function () { follow(p); }, 2000); });
      }, parseInt(d.pollMs || "1000", 10));
    }
  }
})();
