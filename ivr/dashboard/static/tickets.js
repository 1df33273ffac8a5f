// Ticket list: refresh itself when tickets arrive or change (polls a small JSON feed), and keyboard
// shortcuts: j/k move, Enter opens, x ticks. No framework, no third-party code.
(function () {
  "use strict";
  var table = document.getElementById("tickets");
  if (!table) return;
  var current = -1;
  var live = document.getElementById("live");

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#ticket-rows tr[data-href]")); }
  function mark(i) {
    var r = rows();
    if (!r.length) return;
    current = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (row, n) { row.classList.toggle("current", n === current); });
    r[current].querySelector("a").focus();
  }

  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (e.altKey || e.ctrlKey || e.metaKey || tag === "input" && e.target.type !== "checkbox" || tag === "select" || tag === "textarea") return;
    var r = rows();
    if (e.key === "j") { mark(current + 1); e.preventDefault(); }
    else if (e.key === "k") { mark(current < 0 ? 0 : current - 1); e.preventDefault(); }
    else if (e.key === "x" && current >= 0 && r[current]) {
      var box = r[current].querySelector("input[type=checkbox]"); box.checked = !box.checked; e.preventDefault();
    }
  });

  function refresh() {
    var ticked = {};
    document.querySelectorAll("#ticket-rows input[name=ids]:checked").forEach(function (b) { ticked[b.value] = true; });
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (resp) { return resp.ok ? resp.text() : Promise.reject(resp.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var before = rows().map(function (r) { return r.dataset.id; });
        var body = doc.getElementById("ticket-rows"), counts = doc.getElementById("counts"), t = doc.getElementById("tickets");
        if (!body || !t) return;
        document.getElementById("ticket-rows").replaceWith(body);
        if (counts) document.getElementById("counts").replaceWith(counts);
        table = document.getElementById("tickets");
        table.dataset.signature = t.dataset.signature;
        document.querySelectorAll("#ticket-rows input[name=ids]").forEach(function (b) { if (ticked[b.value]) b.checked = true; });
        var added = rows().filter(function (r) { return before.indexOf(r.dataset.id) < 0; }).length;
        if (live) live.textContent = added ? added + " new ticket" + (added > 1 ? "s" : "") + " arrived" : "List updated";
        if (current >= 0) mark(current);
      });
  }

  function poll() {
    fetch(table.dataset.feed, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (resp) { return resp.ok ? resp.json() : Promise.reject(resp.status); })
      .then(function (data) { if (data.signature && data.signature !== table.dataset.signature) return refresh(); })
      .catch(function () { /* offline or logged out: try again next time */ })
      .then(function () { setTimeout(poll, Number(table.dataset.interval || 4000)); });
  }
  setTimeout(poll, Number(table.dataset.interval || 4000));
})();
