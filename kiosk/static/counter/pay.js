// Counter payment entry: the amount choice fills the amount, Enter moves from the amount to
// the cash field, the totals and change due update as the cashier types; on the payment page
// a card payment's status is polled from the payments API until it ends.
(function () {
  "use strict";

  // Cents from what a cashier types ("12.5", "$1,234.56"); null when it is not an amount.
  // The server parses again (payments.money); this only drives the live figures.
  function cents(text) {
    var m = /^\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d{0,2}))?\s*$/.exec(text || "");
    if (!m || (m[1] === undefined && !m[2])) { return null; }
    var whole = parseInt((m[1] || "0").replace(/,/g, ""), 10);
    var frac = parseInt(((m[2] || "") + "00").slice(0, 2), 10);
    return whole * 100 + frac;
  }
  function money(c) {
    var s = String(Math.abs(c) % 100);
    var d = String(Math.floor(Math.abs(c) / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    return (c < 0 ? "-" : "") + "$" + d + "." + (s.length < 2 ? "0" + s : s);
  }
  function plain(c) {
    var s = String(c % 100);
    return Math.floor(c / 100) + "." + (s.length < 2 ? "0" + s : s);
  }

  function payForm(form) {
    var amount = form.querySelector("#amount");
    var fee = parseInt(form.getAttribute("data-fee") || "0", 10);
    var out = {
      tendered: document.getElementById("tendered"),
      short: document.getElementById("short"),
      change: document.getElementById("change")
    };
    function update() {
      var due = cents(amount.value);
      var card = cents((form.querySelector("#card") || {}).value || "");
      var total = 0, cash = 0, bad = false;
      form.querySelectorAll("input.tender").forEach(function (el) {
        if (!el.value.trim()) { return; }
        var c = cents(el.value);
        if (c === null) { bad = true; return; }
        total += c;
        if (el.id === "cash") { cash = c; }
      });
      if (due === null || bad) {
        out.tendered.textContent = out.short.textContent = out.change.textContent = "—";
        return;
      }
      if (card) { due += fee; }
      out.tendered.textContent = money(total);
      out.short.textContent = money(Math.max(due - total, 0));
      out.change.textContent = money(Math.min(Math.max(total - due, 0), cash));
    }
    form.querySelectorAll('input[name="bill"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        var c = parseInt(radio.getAttribute("data-amount") || "0", 10);
        amount.value = c > 0 ? plain(c) : "";
        update();
      });
    });
    // Enter in the amount moves on to the cash field instead of submitting.
    form.querySelectorAll("input[data-next]").forEach(function (el) {
      el.addEventListener("keydown", function (event) {
        if (event.key !== "Enter") { return; }
        var next = document.getElementById(el.getAttribute("data-next"));
        if (next) {
          event.preventDefault();
          next.focus();
          next.select();
        }
      });
    });
    form.addEventListener("input", update);
    form.addEventListener("submit", function () {
      var button = form.querySelector("#take-payment");
      if (button) { window.setTimeout(function () { button.disabled = true; }, 0); }
    });
    // The cursor starts in the amount, unless the page asks for something else first
    // (a supervisor's username after an over-limit refusal, "Charge anyway" after a
    // duplicate warning): that element carries autofocus instead.
    var wanted = form.querySelector("[autofocus]");
    if (wanted && wanted !== amount) {
      wanted.focus();
    } else {
      amount.focus();
      amount.select();
    }
    update();
  }

  function pollCard(box) {
    var url = box.getAttribute("data-url");
    var every = parseInt(box.getAttribute("data-poll-ms") || "1000", 10);
    var label = box.querySelector(".status-text");
    var words = {
      created: "Starting the reader", awaiting_card: "Waiting for the card",
      processing: "Card processing"
    };
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (!p) { window.setTimeout(tick, every * 2); return; }
          if (words[p.status]) {
            label.textContent = words[p.status];
            window.setTimeout(tick, every);
          } else {
            window.location.reload();
          }
        })
        .catch(function () { window.setTimeout(tick, every * 2); });
    }
    window.setTimeout(tick, every);
  }

  // Search results: the arrow keys move from the search box through the result links.
  function resultKeys(q, links) {
    function move(from, step) {
      var i = links.indexOf(from) + step;
      if (i < 0) { q.focus(); return; }
      if (i < links.length) { links[i].focus(); }
    }
    q.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown") { event.preventDefault(); links[0].focus(); }
    });
    links.forEach(function (link) {
      link.addEventListener("keydown", function (event) {
        if (event.key === "ArrowDown") { event.preventDefault(); move(link, 1); }
        if (event.key === "ArrowUp") { event.preventDefault(); move(link, -1); }
      });
    });
  }

  var q = document.getElementById("q");
  var links = Array.prototype.slice.call(document.querySelectorAll("table.results a"));
  if (q && links.length) { resultKeys(q, links); }
  var form = document.getElementById("pay-form");
  if (form) { payForm(form); }
  var box = document.getElementById("card-status");
  if (box) { pollCard(box); }
  document.body.setAttribute("data-pay-ready", "on");  // tests wait for this mark
})();
