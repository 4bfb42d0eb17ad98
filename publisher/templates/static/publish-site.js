/* What every page of the site does besides its text (publisher/pipeline/site_pages.py):
   search snippets from the article, and the copy buttons' names. */
(() => {
  "use strict";

  // Sphinx's search shows a snippet of each page found, taken from the page's
  // [role=main]; in this theme that also holds the article header's buttons (colour mode,
  // search), so every snippet began "System Settings Light Dark". Read the article
  // instead, without publish's own furniture (badges, environment box, date line).
  const SKIP = [".headerlink", "script", "style", "[data-nosnippet]", ".copybtn",
                ".publish-badges", ".publish-env", ".publish-post-meta",
                ".publish-live-status"].join(", ");
  const articleText = (htmlString, anchor) => {
    const page = new DOMParser().parseFromString(htmlString, "text/html");
    page.querySelectorAll(SKIP).forEach((el) => el.remove());
    const article = page.querySelector("article.bd-article") || page.querySelector('[role="main"]');
    if (!article) return "";
    let block = null;
    if (anchor) {
      try { block = article.querySelector(anchor); } catch (e) { block = null; }
    }
    return (block || article).textContent;
  };

  // sphinx-copybutton's buttons hold an icon only: give them a name
  const nameCopyButtons = () => {
    document.querySelectorAll("button.copybtn:not([aria-label])").forEach((button) => {
      button.setAttribute("aria-label", "Copy code");
      button.setAttribute("type", "button");
    });
  };

  const ready = () => {
    // Search is searchtools.js's (a global of the page; loaded on every page by the theme)
    if (typeof Search !== "undefined") Search.htmlToText = articleText;
    nameCopyButtons();
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
  // the copy buttons come once the clipboard library is loaded, which may be later
  window.addEventListener("load", nameCopyButtons);
})();
