// Keyboard shortcuts: j/k move through table rows, Enter opens the selected row; any
// element with data-key="x" is activated by the key x (an action with a reason field
// focuses the field first, Enter there submits).
(function () {
  "use strict";
  var selected = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-href]")); }
  function select(i) {
    var all = rows();
    if (!all.length) { return; }
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (r, n) { r.classList.toggle("selected", n === selected); });
    all[selected].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) { return; }
    if (ev.key === "j") { select(selected + 1); ev.preventDefault(); return; }
    if (ev.key === "k") { select(selected - 1); ev.preventDefault(); return; }
    if (ev.key === "Enter" && selected >= 0) {
      window.location.assign(rows()[selected].getAttribute("data-href"));
      return;
    }
    var target = document.querySelector('[data-key="' + CSS.escape(ev.key) + '"]');
    if (!target) { return; }
    ev.preventDefault();
    var reason = document.querySelector('[data-reason-for="' + CSS.escape(ev.key) + '"]');
    if (reason && !reason.value) { reason.focus(); return; }
    target.click();
  });
})();
