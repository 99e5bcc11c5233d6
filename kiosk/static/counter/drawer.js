// Count grid: the value of each line and the total, live as the cashier types pieces.
(function () {
  "use strict";
  var format = new Intl.NumberFormat("en-US", {style: "currency", currency: "USD"});

  function update(grid) {
    var total = 0;
    var valid = true;
    grid.querySelectorAll("input.count").forEach(function (input) {
      var text = input.value.trim();
      var line = input.closest("tr").querySelector("[data-line-total]");
      if (text === "") {
        line.textContent = format.format(0);
        input.removeAttribute("aria-invalid");
        return;
      }
      if (!/^[0-9]{1,5}$/.test(text)) {
        valid = false;
        line.textContent = "digits only";
        input.setAttribute("aria-invalid", "true");
        return;
      }
      input.removeAttribute("aria-invalid");
      var cents = parseInt(text, 10) * parseInt(input.dataset.cents, 10);
      total += cents;
      line.textContent = format.format(cents / 100);
    });
    grid.querySelector("[data-total]").textContent = valid
      ? format.format(total / 100)
      : "fix the boxes marked \u201cdigits only\u201d";
  }

  // Enter in a count box moves to the next box (then to the form's button) instead of
  // submitting: a blind close counts once, so a habitual Enter must not send half a count.
  function enterMovesOn(grid) {
    var boxes = Array.prototype.slice.call(grid.querySelectorAll("input.count"));
    var form = grid.closest("form");
    boxes.forEach(function (box, i) {
      box.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" || event.altKey || event.ctrlKey || event.metaKey) { return; }
        event.preventDefault();
        var next = boxes[i + 1] || (form && form.querySelector('button[type="submit"]'));
        if (next) {
          next.focus();
          if (next.select) { next.select(); }
        }
      });
    });
  }

  document.querySelectorAll("[data-count-grid]").forEach(function (grid) {
    grid.addEventListener("input", function () { update(grid); });
    enterMovesOn(grid);
    update(grid);
  });
  document.body.setAttribute("data-count-ready", "on");  // tests wait for this mark
})();
