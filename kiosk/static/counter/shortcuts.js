// Counter keyboard shortcuts: an element with data-key="F4" is clicked (a button or link)
// or focused (a text field) when that key is pressed, wherever the focus is.
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (!/^F\d{1,2}$/.test(event.key) || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    var target = document.querySelector('[data-key="' + event.key + '"]');
    if (!target) {
      return;
    }
    event.preventDefault();
    if (target.matches("input, select, textarea")) {
      target.focus();
      if (target.select) {
        target.select();
      }
    } else {
      target.click();
    }
  });
  document.body.setAttribute("data-shortcuts", "on");  // tests wait for this mark
})();
