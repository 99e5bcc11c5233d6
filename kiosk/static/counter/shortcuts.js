// Counter keyboard shortcuts, one keymap for every counter screen (templates/counter/
// _keymap.html): an element with data-key="F4" or data-key="Alt+A" is clicked (a button or
// link) or focused (a text field, or any element marked data-key-focus) when that key is
// pressed, wherever the focus is. Alt+L (lock) is lock.js's.
(function () {
  "use strict";
  function keyName(event) {
    if (event.ctrlKey || event.metaKey) {
      return null;
    }
    if (event.altKey) {
      var m = /^Key([A-Z])$/.exec(event.code || "");
      return m && !event.shiftKey ? "Alt+" + m[1] : null;
    }
    return /^F\d{1,2}$/.test(event.key) ? event.key : null;
  }
  document.addEventListener("keydown", function (event) {
    var name = keyName(event);
    if (!name) {
      return;
    }
    var target = document.querySelector('[data-key="' + name + '"]');
    if (!target) {
      return;
    }
    event.preventDefault();
    if (target.matches("input, select, textarea, [data-key-focus]")) {
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
