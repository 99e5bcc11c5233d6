// Counter queue page: keep the waiting list fresh (re-read this page and swap the list, unless
// the cashier is working inside it) and show how long the current customer has been served.
(function () {
  "use strict";
  var list = document.getElementById("waiting-list");
  if (list) {
    var every = parseInt(list.getAttribute("data-refresh-ms"), 10) || 8000;
    window.setInterval(function () {
      if (document.hidden || list.contains(document.activeElement)) {
        return;
      }
      fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
        .then(function (html) {
          if (!html) { return; }
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("waiting-list");
          if (fresh && !list.contains(document.activeElement)) {
            list.innerHTML = fresh.innerHTML;
          }
        })
        .catch(function () { /* offline for a moment: keep the list shown */ });
    }, every);
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
