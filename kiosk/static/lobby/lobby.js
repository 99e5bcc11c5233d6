// Lobby screen: re-read the public feed every few seconds and redraw the numbers. A number
// called (or recalled) since the last look flashes. Numbers and counter names only.
(function () {
  "use strict";
  var feed = document.querySelector('meta[name="lobby-feed"]');
  if (!feed) { return; }
  var url = feed.getAttribute("content");
  var seen = {};
  var first = true;
  var last = "";

  function row(item, isNew, isLatest) {
    var tr = document.createElement("tr");
    if (isLatest) { tr.classList.add("latest"); }
    if (isNew) { tr.classList.add("fresh"); }
    var n = document.createElement("td");
    n.className = "number";
    n.textContent = item.number;
    var c = document.createElement("td");
    c.className = "counter";
    c.textContent = item.counter;
    tr.appendChild(n);
    tr.appendChild(c);
    return tr;
  }

  function draw(board) {
    var same = JSON.stringify([board.serving, board.next]);
    if (same === last) { return; }  // unchanged: do not make screen readers repeat it
    last = same;
    var serving = document.getElementById("serving");
    var next = document.getElementById("next");
    var now = {};
    serving.replaceChildren.apply(serving, board.serving.map(function (item, i) {
      var stamp = item.number + "@" + item.announced_at;
      now[stamp] = true;
      return row(item, !first && !seen[stamp], i === 0);
    }));
    next.replaceChildren.apply(next, board.next.map(function (number) {
      var li = document.createElement("li");
      li.textContent = number;
      return li;
    }));
    document.getElementById("serving-empty").hidden = board.serving.length > 0;
    document.getElementById("next-empty").hidden = board.next.length > 0;
    seen = now;
    first = false;
  }

  function refresh() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (board) { if (board) { draw(board); } })
      .catch(function () { /* network hiccup: keep the last board on screen */ });
  }

  refresh();
  window.setInterval(refresh, 4000);
})();
