// Counter auto-lock: after the configured seconds without keyboard, mouse or touch use the
// page posts to /counter/lock and shows the unlock screen. While the cashier is busy on one
// page, a heartbeat tells the server (which also locks on its own after the same time).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="counter-lock"]');
  var token = document.querySelector('meta[name="csrf-token"]');
  if (!meta || !token) {
    return;
  }
  var seconds = parseInt(meta.dataset.seconds, 10);
  if (!(seconds > 0)) {
    return;
  }
  var lastInput = Date.now();
  var lastBeat = Date.now();
  var locking = false;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"X-CSRFToken": token.content, "Content-Type": "application/x-www-form-urlencoded"},
      body: body || "",
    });
  }

  function lockNow() {
    if (locking) {
      return;
    }
    locking = true;
    post(meta.dataset.lockUrl, "reason=idle").finally(function () {
      window.location.assign(meta.dataset.unlockUrl);
    });
  }

  // Alt+L locks at once (the Lock button also carries accesskey="l" for a page without JS).
  document.addEventListener("keydown", function (event) {
    if (event.altKey && !event.ctrlKey && !event.metaKey && event.code === "KeyL") {
      var button = document.querySelector(".lock-form button");
      if (button) {
        event.preventDefault();
        button.form.requestSubmit(button);
      }
    }
  });

  ["keydown", "mousedown", "touchstart", "input", "wheel"].forEach(function (name) {
    document.addEventListener(name, function () { lastInput = Date.now(); }, {passive: true});
  });

  window.setInterval(function () {
    var now = Date.now();
    if (now - lastInput >= seconds * 1000) {
      lockNow();
    } else if (lastInput > lastBeat && now - lastBeat >= Math.min(30000, seconds * 500)) {
      lastBeat = now;
      post(meta.dataset.heartbeatUrl).then(function (response) {
        if (response.status === 423) {
          window.location.assign(meta.dataset.unlockUrl);
        }
      });
    }
  }, 1000);
})();
