// publish serve, local backend: on a post's page, a link that opens the post's own source
// in JupyterLab, in the post's env; what JupyterLab saves rebuilds and reloads this page.
(function () {
  var m = window.location.pathname.match(/^\/posts\/([^/]+)\/(index\.html)?$/);
  if (!m) { return; }
  var link = document.createElement("a");
  link.className = "publish-badge publish-edit";
  link.href = "/_publish/edit/" + encodeURIComponent(decodeURIComponent(m[1]));
  link.target = "_blank";
  link.rel = "noopener";
  link.title = "Open this post's source file in JupyterLab, in its own environment: " +
    "what you save there rebuilds this page (publish serve only)";
  var icon = document.createElement("span");
  icon.className = "publish-badge-icon";
  icon.setAttribute("aria-hidden", "true");
  icon.textContent = "✎";
  link.appendChild(icon);
  link.appendChild(document.createTextNode("Edit in JupyterLab"));
  var row = document.querySelector(".publish-badges");
  if (!row) {
    var h1 = document.querySelector("main h1, article h1, h1");
    if (!h1) { return; }
    row = document.createElement("div");
    row.className = "publish-badges";
    row.setAttribute("role", "group");
    row.setAttribute("aria-label", "Author tools");
    h1.parentNode.insertBefore(row, h1.nextSibling);
  }
  row.appendChild(link);
})();
