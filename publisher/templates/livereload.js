// publish serve: reload this page when a rebuild changed it; show build problems in a
// panel at the bottom (dismissable; it comes back when a later build still has problems).
(function () {
  var panel = null;
  function here() {
    var p = window.location.pathname;
    if (p.endsWith("/")) { p += "index.html"; }
    return p;
  }
  function showError(text, build) {
    if (sessionStorage.getItem("publish-dismissed") === String(build)) { return; }
    if (!panel) {
      panel = document.createElement("div");
      panel.id = "publish-error-overlay";
      panel.setAttribute("role", "alert");
      panel.style.cssText = "position:fixed;left:0;right:0;bottom:0;max-height:40vh;" +
        "overflow:auto;z-index:100000;background:#2b0b0b;color:#ffdede;" +
        "font:13px/1.5 ui-monospace,monospace;padding:.8rem 1.2rem;white-space:pre-wrap;" +
        "border-top:3px solid #e53935";
      var close = document.createElement("button");
      close.type = "button";
      close.textContent = "Dismiss";
      close.style.cssText = "float:right;margin-left:1rem";
      close.addEventListener("click", function () {
        sessionStorage.setItem("publish-dismissed", String(build));
        clearError();
      });
      panel.appendChild(close);
      panel.appendChild(document.createElement("pre")).style.margin = "0";
      document.body.appendChild(panel);
    }
    panel.querySelector("pre").textContent = "publish: the last rebuild has problems " +
      "(the server keeps running; fix and save to clear this)\n\n" +
      text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, "");  // a terminal's colours: noise here
  }
  function clearError() {
    if (panel) { panel.remove(); panel = null; }
  }
  function apply(state) {
    if (state.error) { showError(state.error, state.build); } else { clearError(); }
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
