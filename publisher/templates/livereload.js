// publish serve: reload this page when a rebuild changed it; show build errors on top.
(function () {
  var overlay = null;
  function here() {
    var p = window.location.pathname;
    if (p.endsWith("/")) { p += "index.html"; }
    return p;
  }
  function showError(text) {
    if (!overlay) {
      overlay = document.createElement("div");
      overlay.id = "publish-error-overlay";
      overlay.setAttribute("role", "alert");
      overlay.style.cssText = "position:fixed;inset:0 0 auto 0;max-height:60vh;overflow:auto;" +
        "z-index:100000;background:#2b0b0b;color:#ffdede;font:13px/1.5 ui-monospace,monospace;" +
        "padding:1rem 1.2rem;white-space:pre-wrap;border-bottom:3px solid #e53935";
      document.body.appendChild(overlay);
    }
    overlay.textContent = "publish: the last rebuild has problems (the server keeps running; " +
      "fix and save to clear this)\n\n" + text;
  }
  function clearError() {
    if (overlay) { overlay.remove(); overlay = null; }
  }
  function apply(state) {
    if (state.error) { showError(state.error); } else { clearError(); }
  }
  fetch("/_publish/status").then(function (r) { return r.json(); }).then(apply).catch(function () {});
  var source = new EventSource("/_publish/events");
  source.onmessage = function (e) {
    var ev = JSON.parse(e.data);
    apply(ev);
    if (ev.type === "built" && (ev.changed || []).indexOf(here()) >= 0) {
      window.location.reload();
    }
  };
})();
