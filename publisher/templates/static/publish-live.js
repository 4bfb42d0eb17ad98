// publish: live code in the page. "Run code here" turns the post's code cells into
// editable cells (thebe) backed by a session of the post's own environment. The page asks
// the blog's launcher for the session through its BinderHub-compatible API
// (/build/git/<slug>/<env id>, Server-Sent Events read with fetch) while thebe loads; the
// cells become editors once the session's kernel is there, so a launch that fails leaves
// the page as it was, plus the launcher's reason.
//
// The session's address and token live in this page's memory only, never in storage:
// localStorage, sessionStorage, IndexedDB and cookies are the origin's, and when the
// launcher shares the blog's origin every page of it (HTML a reader planted in their own
// session and sent another reader a link to, included) would read them there. The price:
// a reload starts a new session (a pooled one is ready in well under a second), and the
// page ends its session when it goes away, since nobody else can use it then.
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

  // timings for the benchmark (and a curious reader's devtools)
  function mark(name) {
    if (window.performance && performance.mark) performance.mark("publish-live:" + name);
  }

  // earlier versions kept the session of a post's last visit in localStorage: remove it
  function forgetStoredSessions() {
    ["localStorage", "sessionStorage"].forEach(function (name) {
      try {
        var store = window[name];
        for (var i = store.length - 1; i >= 0; i--) {
          var key = store.key(i);
          if (key && key.indexOf("publish-live:") === 0) store.removeItem(key);
        }
      } catch (e) {
        // no storage at all (blocked by the reader's settings): nothing to remove
      }
    });
  }

  // a launch that did not start; *retry* false: it will fail again (a broken env)
  function failure(message, retry) {
    var e = new Error(message);
    e.retry = retry !== false;
    return e;
  }

  onReady(function () {
    forgetStoredSessions();
    var button = document.querySelector("button.publish-live");
    if (!button) return;
    var cfg = JSON.parse(button.getAttribute("data-live"));
    // the launch stream (BinderHub's API): our launcher's, on the blog's own origin when
    // the launcher is there too, or a BinderHub's
    var build = new URL(cfg.build, window.location.href).href;
    var status = document.createElement("div");
    status.className = "publish-live-status";
    status.setAttribute("role", "status");  // polite: read out when the reader pauses
    status.setAttribute("aria-live", "polite");
    status.hidden = true;
    button.closest(".publish-badges").insertAdjacentElement("afterend", status);
    var started = false;

    // the author's code of each cell, in the page's order (thebe's): what the reader's
    // kept edits replace, and what Reset puts back
    var originals = Array.prototype.map.call(
      document.querySelectorAll("article .cell .cell_input pre"),
      function (pre) { return (pre.textContent || "").trim(); });
    var keep = window.publishKeep;
    var reset = document.createElement("button");
    reset.type = "button";
    reset.className = "publish-badge publish-reset";
    reset.textContent = "Reset to the author's code";
    reset.title = "Put the post's own code back in every cell, and forget your edits";
    reset.hidden = true;
    button.insertAdjacentElement("afterend", reset);

    function action(label, title, fn) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "publish-live-action";
      b.textContent = label;
      if (title) b.title = title;
      b.addEventListener("click", fn);
      return b;
    }

    // *opts*: log (a line of the launcher's log), actions (buttons), float (keep it in view
    // wherever the reader is in the page: what happens while they read further down)
    function say(phase, text, opts) {
      opts = opts || {};
      // a button of the old content had the focus: it goes to the new content's first
      // button, or the line itself, never to the page's start
      var hadFocus = status.contains(document.activeElement);
      status.hidden = false;
      status.setAttribute("data-phase", phase);
      if (opts.float) status.setAttribute("data-float", "true");
      else status.removeAttribute("data-float");
      status.textContent = "";
      var main = document.createElement("span");
      main.className = "publish-live-message";
      main.textContent = text;
      status.appendChild(main);
      if (opts.log) {
        var line = document.createElement("div");
        line.className = "publish-live-log";
        line.textContent = opts.log;
        status.appendChild(line);
      }
      var actions = opts.actions || [];
      if (opts.float) {
        actions = actions.concat([action("Dismiss", "Hide this notice", function () {
          status.removeAttribute("data-float");
          if (status.getAttribute("data-phase") !== "failed") status.hidden = true;
        })]);
      }
      if (actions.length) {
        var row = document.createElement("div");
        row.className = "publish-live-actions";
        actions.forEach(function (b) { row.appendChild(b); });
        status.appendChild(row);
      }
      if (hadFocus) {
        if (actions.length) {
          actions[0].focus();
        } else {
          status.tabIndex = -1;
          status.focus();
        }
      }
    }

    function sayReady() {
      // Tab indents in an editor: Esc is the way out of it from the keyboard (thebe's)
      say("ready", "Ready: code runs in this post's own environment. Shift+Enter runs a " +
          "cell; Esc leaves its editor.");
    }

    // the launcher's reason, short: what failed, and the line of its log that says why;
    // Try again unless the launcher says it would fail the same way
    function sayFailed(e, float) {
      var message = (e && e.message) || String(e);
      var head = message.split(/: (?=The command|Last lines)/)[0];
      var lines = message.split(/\s\|\s|\n/).map(function (l) { return l.trim(); });
      var why = lines.filter(function (l) {
        return /error|cause|not found|no matching|unsatisfiable|denied|refused/i.test(l) &&
          !/^(Step \d|The command|Removing|--->)/.test(l);
      }).pop();
      var again = action("Try again", "Ask the launcher for a live session again", function () {
        // cells already live: a new session for them; else start over
        if (live && live.notebook) connect(true);
        else start();
      });
      say("failed", "Could not start live code: " +
          (head.length > 300 ? head.slice(0, 300) + "…" : head),
          // the launcher's plain cause is said once
          {log: why && why !== head ? why : "", float: float,
           actions: e && e.retry === false ? [] : [again]});
    }

    // --- the reader's edits, kept in this browser (publish-keep.js) -----------------
    var editors = [];  // the live cells' CodeMirror editors, in order
    var warnedKeep = false;
    function sources() {
      return editors.map(function (cm) { return cm ? cm.getValue() : null; });
    }
    function showEdited() {
      var any = false;
      editors.forEach(function (cm, i) {
        var edited = !!cm && cm.getValue() !== originals[i];
        any = any || edited;
        var cell = cm && cm.getWrapperElement().closest(".cell");
        if (cell) cell.toggleAttribute("data-publish-edited", edited);
      });
      reset.hidden = !any;  // live: the editors hold the kept edits too
    }
    var saving = null;
    function saveSoon() {
      showEdited();
      clearTimeout(saving);
      saving = setTimeout(saveNow, 400);
    }
    function saveNow() {
      clearTimeout(saving);
      saving = null;
      if (!keep || !editors.length) return;
      var now = sources().map(function (src, i) { return src === null ? originals[i] : src; });
      if (!keep.save(cfg.keep, originals, now) && !warnedKeep) {
        warnedKeep = true;
        say("ready", "Your edits are not kept in this browser (its storage is off or full): " +
            "they last until you leave the page.", {float: true});
      }
    }
    window.addEventListener("pagehide", function () { if (saving) saveNow(); });
    reset.addEventListener("click", function () {
      editors.forEach(function (cm, i) { if (cm) cm.setValue(originals[i]); });
      if (keep) keep.forget(cfg.keep);
      clearTimeout(saving);
      saving = null;
      showEdited();
      reset.hidden = true;
      say(started ? "ready" : "kept", "The author's code is back in every cell" +
          (started ? "." : "; Run code here starts with it."));
      button.focus();
    });
    var kept = keep && keep.load(cfg.keep, originals);
    if (kept) {
      var n = Object.keys(kept.cells).length;
      reset.hidden = false;
      say("kept", "Your edits to " + n + " cell" + (n === 1 ? "" : "s") + " of this post " +
          "are kept in this browser" + (kept.saved ? " (from " +
          new Date(kept.saved).toLocaleString() + ")" : "") + ": Run code here starts " +
          "with them.");
    }

    // thebe pairs the n-th source with the n-th output: give every code cell one of each
    function markCells() {
      document.querySelectorAll("article .cell").forEach(function (cell) {
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

    // figures a cell draws come without alt text: give them one (screen readers)
    var described = false;
    function describeFigures() {
      if (described) return;
      described = true;
      var article = document.querySelector("article") || document.body;
      new MutationObserver(function () {
        article.querySelectorAll(".thebe-output img:not([alt])").forEach(function (img) {
          img.setAttribute("alt", "Figure drawn by the code cell above");
        });
      }).observe(article, {childList: true, subtree: true});
    }

    var loading = null;
    function loadThebe() {
      if (!loading) {
        loading = (window.thebe && window.thebe.bootstrap) ? Promise.resolve() : Promise.all([
          load("link", {rel: "stylesheet", href: cfg.thebe + "thebe.css"}),
          load("script", {src: cfg.thebe + "index.js"})]);
        loading.catch(function () { loading = null; });  // Try again loads it again
      }
      return loading;
    }
    // thebe (1.5 MB) only on the reader's intent: the pointer on the button, the focus on
    // it, a touch; a reader who only reads downloads none of it
    ["pointerenter", "focus", "touchstart"].forEach(function (ev) {
      button.addEventListener(ev, function () { loadThebe().catch(function () {}); },
                              {once: true, passive: true});
    });

    // the page's session: its address and token are known to this page alone, so when
    // the page goes away for good nobody can use it again: end it now rather than when
    // the launcher culls it idle (it counts against the reader's sessions until then).
    // A page kept in the back/forward cache keeps it (it may come back).
    var current = null;
    function end(s) {
      if (!s) return;
      try {
        fetch(s.url + "api/shutdown", {method: "POST", keepalive: true, credentials: "omit",
                                       headers: {Authorization: "token " + s.token}})
          .catch(function () {});
      } catch (e) {
        // the page is going: nothing more to do
      }
    }
    window.addEventListener("pagehide", function (e) {
      if (!e.persisted) end(current);
    });

    var WORDS = {waiting: "Waiting for the launcher…", building: "Building the post's environment…",
                 built: "Environment built.", launching: "Starting a live session…"};

    var run = 0;  // the reader's current attempt: progress of an abandoned one is not shown
    var floating = false;  // the current attempt's messages float (a session was replaced)

    // follow a launch stream (BinderHub's API) to its session; a full launcher's
    // "failed" event may name the same post on a BinderHub: follow that one instead
    async function launch(mine, url, path) {
      var target = url || build;
      var origin = new URL(target).origin;
      var answer;
      try {
        answer = await publishEvents.open(target);
      } catch (e) {
        throw failure("the launcher at " + origin + " did not answer (it may be down, or " +
                      "your connection is); try again in a minute");
      }
      if (answer.refused) {  // busy, too many sessions, unknown post
        throw failure(answer.refused.message || "the launcher at " + origin + " refused " +
                      "(HTTP " + answer.refused.status + "); try again in a minute",
                      answer.refused.retry !== false);
      }
      var result = null;
      var finished = await publishEvents.read(answer.response, function (data) {
        if (data.phase === "ready") {
          result = {ready: {url: data.url, token: data.token, path: path || cfg.path}};
        } else if (data.phase === "failed" && data.overflow && !url) {
          result = {overflow: data.overflow};
        } else if (data.phase === "failed") {
          result = {failed: failure(data.message || "the launch failed", data.retry)};
        } else if (mine === run && data.phase === "waiting" &&
                   typeof data.position === "number") {  // every place taken: in line
          say("waiting", "You are number " + data.position + " in line" +
              (typeof data.estimate === "number" ? " (about " + data.estimate + " s)" : "") +
              " for a live session.", {float: floating});
        } else if (mine === run) {
          say(data.phase, WORDS[data.phase] || data.phase + "…", {float: floating,
              log: data.phase === "building" ? (data.message || "").trim() : ""});
        }
        return result !== null;
      });
      if (!finished) {
        throw failure("the launcher at " + origin + " stopped answering before the " +
                      "session was ready; try again");
      }
      if (result.failed) throw result.failed;
      if (result.ready) return result.ready;
      if (mine !== run) throw failure("the launch was abandoned");  // start nothing more
      say("launching", "This blog's launcher is full; starting the post on " +
          result.overflow.binderhub + " (this takes longer)…", {float: floating});
      return launch(mine, result.overflow.build, result.overflow.path);
    }

    // one launch at a time: a retry while one runs waits for it (one session, not two)
    var inflight = null;
    function session() {
      if (!inflight) {
        var mine = run;
        inflight = (async function () {
          var s = await launch(mine);
          mark("launched");
          current = s;
          return s;
        })();
        inflight.then(function () { inflight = null; }, function () { inflight = null; });
      }
      return inflight;
    }

    function serverSettings(s) {
      return {baseUrl: s.url, wsUrl: "ws" + s.url.slice(4), token: s.token, appendToken: true};
    }

    // a session ends (idle, max age, the launcher restarted): its WebSocket closes and
    // Jupyter's client starts reconnecting to a server that is gone. Ask the launcher;
    // when the session is gone, start a new one so that the next Run just works.
    function watch(thebeSession, s) {
      var kernel = thebeSession && thebeSession.kernel;
      if (!kernel) return;
      kernel.connectionStatusChanged.connect(function (_k, state) {
        if (state === "connecting" || state === "disconnected") probe(s);
      });
      kernel.statusChanged.connect(function (_k, state) {
        if (state === "dead") connect(true);
      });
    }

    async function probe(s) {
      try {
        var r = await fetch(s.url + "api/status", {headers: {Authorization: "token " + s.token}});
        if (r.status === 404 || r.status === 410) connect(true);
      } catch (e) {
        // the launcher itself is unreachable: Jupyter's client keeps trying
      }
    }

    // thebe's configuration and the page's notebook (once thebe is loaded)
    var live = null;
    function configure() {
      if (!live) {
        var thebe = window.thebe;
        var api = window.thebeCore.api;
        // no "restart & run all": thebe 0.9.3's runs all without a restart
        var options = thebe.mergeOptions({
          requestKernel: true, useBinder: false, mountActivateWidget: false,
          mountStatusWidget: false, mountRestartAllButton: false, mathjaxUrl: false,
          codeMirrorConfig: {lineNumbers: false, styleActiveLine: false},
          kernelOptions: {kernelName: cfg.kernel, path: cfg.path}});
        var config = api.makeConfiguration(options, thebe.events);
        live = {options: options, config: config,
                rendermime: api.makeRenderMimeRegistry(config.mathjax), notebook: null};
      }
      return live;
    }

    var LABELS = {run: ["Run", "Run this cell"], runAll: ["Run all", "Run all cells, in order"],
                  restart: ["Restart", "Restart the kernel: its variables are cleared"]};
    // the reader's cell: "Run all cells above" runs the cells above it
    var here = null;

    // the page's cells as thebe cells (thebe's bootstrap, split in two: the server first,
    // the cells once its kernel is there); once
    function liveCells() {
      var l = configure();
      if (l.notebook) return;
      var thebe = window.thebe;
      markCells();
      var items = thebe.findCells(l.options.selector, l.options.outputSelector);
      var mine = (keep && keep.load(cfg.keep, originals)) || {cells: {}};
      var code = items.map(function (item, i) {
        var source = (item.placeholders.source.textContent || "").trim();
        return {id: item.id, source: i in mine.cells ? mine.cells[i] : source};
      });
      var notebook = window.thebeCore.api.setupNotebookFromBlocks(code, l.config, l.rendermime);
      thebe.notebook = notebook;
      thebe.renderAllCells(l.options, notebook, items).forEach(function (item, i) {
        if (!item.ui) return;
        Object.keys(LABELS).forEach(function (k) {
          var b = item.ui.buttons[k];
          if (!b) return;
          b.type = "button";
          b.textContent = LABELS[k][0];
          b.title = LABELS[k][1];
          b.setAttribute("aria-label", LABELS[k][1] + " (cell " + (i + 1) + ")");
        });
        var input = item.ui.editor.querySelector("textarea");
        if (input) input.setAttribute("aria-label", "Code of cell " + (i + 1) + ", editable");
        // thebe makes the editor before it is in the page, where CodeMirror cannot measure
        // it: it would show empty until its next poll (a quarter of a second). Lay it out now
        var editor = item.ui.editor.querySelector(".CodeMirror");
        var cm = editor && editor.CodeMirror;
        if (cm) {
          if (i in mine.cells && cm.getValue() !== mine.cells[i]) cm.setValue(mine.cells[i]);
          cm.refresh();
          cm.on("change", saveSoon);
        }
        editors[i] = cm || null;
        item.ui.cell.addEventListener("focusin", function () { here = item.id; });
      });
      showEdited();
      l.notebook = notebook;
      mark("cells");
    }

    // after a new session: the cells above the reader's (all of them when the reader is in
    // none, or in the first), in order, stopping at the first error
    async function runAbove() {
      var cells = live.notebook.cells || [];
      var at = cells.findIndex(function (c) { return c.id === here; });
      var ids = cells.slice(0, at > 0 ? at : cells.length).map(function (c) { return c.id; });
      var thebe = window.thebe;
      say("busy", "Running " + ids.length + " cell" + (ids.length === 1 ? "" : "s") + "…",
          {float: true});
      ids.forEach(function (id) { if (thebe.setButtonsBusy) thebe.setButtonsBusy(id); });
      var results = [];
      try {
        results = await live.notebook.executeCells(ids, true);
      } finally {
        ids.forEach(function (id) { if (thebe.clearButtonsBusy) thebe.clearButtonsBusy(id); });
      }
      var bad = results.findIndex(function (r) { return !r || r.error; });
      if (bad >= 0) {
        say("ready", "Stopped at cell " + (bad + 1) + ": it raised an error (see its output).",
            {float: true});
      } else {
        say("ready", "Ran " + ids.length + " cell" + (ids.length === 1 ? "" : "s") +
            " again: their variables are back.", {float: true});
      }
    }

    function sayReplaced() {
      say("replaced", "A new live session is ready, but the variables your earlier runs " +
          "made are gone: the old session ended. Run the cells above again before the next one.",
          {float: true, actions: [action("Run all cells above",
            "Run the cells above the one you are in (all cells when you are in none), in order",
            function () { runAbove(); })]});
    }

    // a session for the page's cells: a new launch when *ended* says the last one is gone
    var connecting = false;
    async function connect(ended) {
      if (connecting) return;
      connecting = true;
      var thebe = window.thebe;
      floating = ended;
      say(ended ? "launching" : "waiting", ended ? "The live session ended; starting a new one…"
                                                 : "Waiting for the launcher…", {float: ended});
      try {
        run += 1;
        if (ended) {
          current = null;
          try { thebe.session.kernel.dispose(); } catch (e) { /* already gone */ }
          try { thebe.server.dispose(); } catch (e) { /* already gone */ }
        }
        await attach(await session(), ended);
      } catch (e) {
        sayFailed(e, ended);
      }
      connecting = false;
    }

    // the session's server and kernel, then the cells (made once) on that kernel
    async function attach(s, replaced) {
      var thebe = window.thebe;
      var l = configure();
      l.config.serverSettings = serverSettings(s);
      var server = window.thebeCore.api.makeServer(l.config);
      thebe.server = server;
      server.connectToJupyterServer();
      await server.ready;
      var fresh = await server.startNewSession(l.rendermime,
                                               {path: s.path || cfg.path,
                                                kernelName: cfg.kernel});
      liveCells();
      l.notebook.attachSession(fresh);
      thebe.session = fresh;
      watch(fresh, s);
      mark("ready");
      if (replaced) sayReplaced();
      else sayReady();
    }

    async function start() {
      mark("click");
      run += 1;
      started = true;
      floating = false;
      button.setAttribute("aria-pressed", "true");
      say("waiting", "Waiting for the launcher…");
      describeFigures();
      try {
        // the launch, and thebe's files, at the same time
        var both = await Promise.all([session(), loadThebe().then(function () {
          mark("thebe-loaded");
        })]);
        await attach(both[0], false);
      } catch (e) {
        started = false;
        run += 1;  // what the abandoned attempt still reports is not shown
        button.setAttribute("aria-pressed", "false");
        end(current);  // a session the page could not use
        current = null;
        sayFailed(e, false);
      }
    }

    button.addEventListener("click", function () {
      if (!started) start();
    });
  });
})();
