// publish: live code in the page. "Run code here" turns the post's code cells into
// editable cells (thebe) backed by a session of the post's own environment, started by
// the blog's launcher through its BinderHub-compatible API (/build/git/<slug>/<env id>).
(function () {
  "use strict";

  function onReady(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function load(tag, attrs) {
    return new Promise(function (resolve, reject) {
      var el = document.createElement(tag);
      Object.keys(attrs).forEach(function (k) { el.setAttribute(k, attrs[k]); });
      el.onload = resolve;
      el.onerror = function () { reject(new Error("could not load " + (attrs.src || attrs.href))); };
      document.head.appendChild(el);
    });
  }

  onReady(function () {
    var button = document.querySelector("button.publish-live");
    if (!button) return;
    var cfg = JSON.parse(button.getAttribute("data-live"));
    var status = document.createElement("div");
    status.className = "publish-live-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    status.hidden = true;
    button.closest(".publish-badges").insertAdjacentElement("afterend", status);
    var started = false;

    function say(phase, text, log) {
      status.hidden = false;
      status.setAttribute("data-phase", phase);
      status.textContent = "";
      var main = document.createElement("span");
      main.className = "publish-live-message";
      main.textContent = text;
      status.appendChild(main);
      if (log) {
        var line = document.createElement("div");
        line.className = "publish-live-log";
        line.textContent = log;
        status.appendChild(line);
      }
      if (phase === "failed") {
        var again = document.createElement("button");
        again.type = "button";
        again.className = "publish-live-retry";
        again.textContent = "Try again";
        again.addEventListener("click", function () { connect(); });
        status.appendChild(again);
      }
    }

    // thebe pairs the n-th source with the n-th output: give every code cell one of each
    function markCells() {
      var cells = document.querySelectorAll("article .cell");
      cells.forEach(function (cell) {
        var pre = cell.querySelector(".cell_input pre");
        if (!pre) return; // its code is removed from the page (remove-input)
        pre.setAttribute("data-executable", "true");
        pre.setAttribute("data-language", cfg.language);
        var out = null;
        for (var i = 0; i < cell.children.length; i++) {
          if (cell.children[i].classList.contains("cell_output")) out = cell.children[i];
        }
        if (!out) {
          out = document.createElement("div");
          out.className = "cell_output";
          cell.appendChild(out);
        }
        out.setAttribute("data-output", "true");
      });
    }

    function onStatus(_evt, data) {
      var message = (data && data.message) || "";
      var m = /^Binder is: (\w+) - ([\s\S]*)$/.exec(message);
      if (m) {
        var phase = m[1];
        var words = {waiting: "Waiting for the launcher…", building: "Building the post's environment…",
                     built: "Environment built.", launching: "Starting a live session…"};
        say(phase, words[phase] || (phase + "…"), phase === "building" ? m[2].trim() : "");
      } else if (data && data.status === "dead" || data && data.status === "shutdown") {
        reconnect();
      }
    }

    // the launcher's reason, short: what failed, and the line of its log that says why
    function reason(message) {
      var head = message.split(/: (?=The command|Last lines)/)[0];
      var lines = message.split(/\s\|\s|\n/).map(function (l) { return l.trim(); });
      var why = lines.filter(function (l) {
        return /error|cause|not found|no matching|unsatisfiable|denied|refused/i.test(l) &&
          !/^(Step \d|The command|Removing|--->)/.test(l);
      }).pop();
      return {text: head.length > 300 ? head.slice(0, 300) + "…" : head, log: why || ""};
    }

    function onError(_evt, data) {
      var message = (data && data.message) || "unknown error";
      var m = /^Binder: failed to build - \S+ - ([\s\S]*)$/.exec(message);
      var r = reason(m ? m[1] : message);
      say("failed", "Could not start live code: " + r.text, r.log);
    }

    async function connect() {
      var thebe = window.thebe;
      say("waiting", "Connecting to the launcher…");
      try {
        var server = new thebe.server.constructor(thebe.server.config);
        thebe.server = server;
        server.connectToServerViaBinder();
        await server.ready;
        var session = await server.startNewSession(thebe.notebook.rendermime);
        thebe.notebook.attachSession(session);
        thebe.session = session;
        say("ready", "Ready: code runs in this post's own environment. Shift+Enter runs a cell.");
      } catch (e) {
        say("failed", "Could not start live code: " + ((e && e.message) || e));
      }
    }

    var reconnecting = false;
    async function reconnect() {
      if (reconnecting) return;
      reconnecting = true;
      Object.keys(window.localStorage).forEach(function (k) {
        if (k.indexOf("publish-live") === 0) window.localStorage.removeItem(k);
      });
      say("launching", "The live session ended; starting a new one…");
      await connect();
      reconnecting = false;
    }

    // figures a cell draws come without alt text: give them one (screen readers)
    function describeFigures() {
      var article = document.querySelector("article") || document.body;
      new MutationObserver(function () {
        article.querySelectorAll(".thebe-output img:not([alt])").forEach(function (img) {
          img.setAttribute("alt", "Figure drawn by the code cell above");
        });
      }).observe(article, {childList: true, subtree: true});
    }

    // thebe saves a live session without `appendToken`; restored, its WebSocket would
    // carry no token when the blog and the launcher share a host name (other ports, or
    // publish serve): the launcher refuses it. Restore it with the token.
    function fixSavedSessions() {
      Object.keys(window.localStorage).forEach(function (key) {
        if (key.indexOf("publish-live") !== 0) return;
        try {
          var saved = JSON.parse(window.localStorage.getItem(key));
          saved.appendToken = true;
          window.localStorage.setItem(key, JSON.stringify(saved));
        } catch (e) {
          window.localStorage.removeItem(key);
        }
      });
    }

    async function start() {
      button.setAttribute("aria-pressed", "true");
      say("waiting", "Loading live code…");
      markCells();
      describeFigures();
      fixSavedSessions();
      try {
        if (!(window.thebe && window.thebe.bootstrap)) {
          await load("link", {rel: "stylesheet", href: cfg.thebe + "thebe.css"});
          await load("script", {src: cfg.thebe + "index.js"});
        }
        window.thebe.on("status", onStatus);
        window.thebe.on("error", onError);
        say("waiting", "Waiting for the launcher…");
        await window.thebe.bootstrap({
          requestKernel: true,
          useBinder: true,
          mountActivateWidget: false,
          mountStatusWidget: false,
          mathjaxUrl: false,
          // an absolute URL: the blog's own origin when the launcher is there too
          binderOptions: {binderUrl: new URL(cfg.launcher || "/", window.location.href).href
                            .replace(/\/$/, ""),
                          repoProvider: "git", repo: cfg.repo, ref: cfg.ref},
          savedSessionOptions: {enabled: true, maxAge: 3600, storagePrefix: "publish-live"},
          kernelOptions: {kernelName: cfg.kernel, path: "/"},
        });
        say("ready", "Ready: code runs in this post's own environment. Shift+Enter runs a cell.");
      } catch (e) {
        if (status.getAttribute("data-phase") !== "failed") {
          say("failed", "Could not start live code: " + ((e && e.message) || e));
        }
      }
    }

    button.addEventListener("click", function () {
      if (started) return;
      started = true;
      start();
    });
  });
})();
