// Ticket page: j / k (or n / p) go to the next / previous open ticket.
(function () {
  "use strict";
  document.addEventListener("keydown", function (e) {
    var tag = (e.target.tagName || "").toLowerCase();
    if (e.altKey || e.ctrlKey || e.metaKey || tag === "input" || tag === "select" || tag === "textarea") return;
    var id = (e.key === "j" || e.key === "n") ? "next-ticket" : (e.key === "k" || e.key === "p") ? "previous-ticket" : null;
    var link = id && document.getElementById(id);
    if (link) { window.location.href = link.href; e.preventDefault(); }
  });
})();
