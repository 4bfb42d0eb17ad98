// publish: live code in the page. "Run code here" turns the post's code cells into
// editable cells (thebe) backed by a session of the post's own environment. The page asks
// the blog's launcher for the session through its BinderHub-compatible API
// (/build/git/<slug>/<env id>, Server-Sent Events) while thebe loads, then gives thebe the
// session's Jupyter server.
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
        again.addEventListener("click", function () {
          // cells already live: a new session for them; else start over
          if (live && live.notebook) connect(true);
          else start();
        });
        status.appendChild(again);
      }
    }

    function sayReady() {
      say("ready", "Ready: code runs in this post's own environment. Shift+Enter runs a cell.");
    }

    // the launcher's reason, short: what failed, and the line of its log that says why
    function sayFailed(message) {
      var head = message.split(/: (?=The command|Last lines)/)[0];
      var lines = message.split(/\s\|\s|\n/).map(function (l) { return l.trim(); });
      var why = lines.filter(function (l) {
        return /error|cause|not found|no matching|unsatisfiable|denied|refused/i.test(l) &&
          !/^(Step \d|The command|Removing|--->)/.test(l);
      }).pop();
      say("failed", "Could not start live code: " +
          (head.length > 300 ? head.slice(0, 300) + "…" : head),
          why && why !== head ? why : "");  // the launcher's plain cause is said once
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
    function describeFigures() {
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
    // while the reader reads: thebe into the browser's cache (low priority)
    (window.requestIdleCallback || function (fn) { setTimeout(fn, 2000); })(function () {
      var hint = document.createElement("link");
      hint.rel = "prefetch";
      hint.href = cfg.thebe + "index.js";
      document.head.appendChild(hint);
    });
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

    // follow a launch stream (BinderHub's API) to its session; a full launcher's
    // "failed" event may name the same post on a BinderHub: follow that one instead
    function launch(mine, url, path) {
      return new Promise(function (resolve, reject) {
        var events = new EventSource(url || build);
        var done = false;
        events.onmessage = function (e) {
          var data = JSON.parse(e.data);
          if (data.phase === "ready") {
            done = true;
            events.close();
            resolve({url: data.url, token: data.token, path: path || cfg.path});
          } else if (data.phase === "failed" && data.overflow && !url) {
            done = true;
            events.close();
            if (mine !== run) {  // the reader gave up on this attempt: start nothing more
              reject(new Error("the launch was abandoned"));
              return;
            }
            say("launching", "This blog's launcher is full; starting the post on " +
                data.overflow.binderhub + " (this takes longer)…");
            launch(mine, data.overflow.build, data.overflow.path).then(resolve, reject);
          } else if (data.phase === "failed") {
            done = true;
            events.close();
            reject(new Error(data.message || "the launch failed"));
          } else if (mine === run) {
            say(data.phase, WORDS[data.phase] || data.phase + "…",
                data.phase === "building" ? (data.message || "").trim() : "");
          }
        };
        events.onerror = function () {
          if (done) return;
          done = true;
          events.close();
          // a refusal (busy, too many sessions from this address, unknown post) or no answer
          reject(new Error("the launcher at " + new URL(url || build).origin + " did not " +
                           "start a session (it may be busy, or unreachable); try again " +
                           "in a minute"));
        };
      });
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
        var options = thebe.mergeOptions({
          requestKernel: true, useBinder: false, mountActivateWidget: false,
          mountStatusWidget: false, mathjaxUrl: false,
          kernelOptions: {kernelName: cfg.kernel, path: cfg.path}});
        var config = api.makeConfiguration(options, thebe.events);
        live = {options: options, config: config,
                rendermime: api.makeRenderMimeRegistry(config.mathjax), notebook: null};
      }
      return live;
    }

    // the page's cells as thebe cells, while the launch runs (thebe's bootstrap, split in
    // two: cells now, the server when the session is ready). In a task of its own: a
    // launch's answer that came while thebe loaded goes first, so the server's handshake
    // is on the network while the cells are made.
    var cells = null;
    function liveCells() {
      if (!cells) {
        cells = new Promise(function (resolve, reject) {
          setTimeout(function () {
            try {
              var thebe = window.thebe;
              var l = configure();
              var items = thebe.findCells(l.options.selector, l.options.outputSelector);
              var code = items.map(function (item) {
                return {id: item.id, source: (item.placeholders.source.textContent || "").trim()};
              });
              var notebook = window.thebeCore.api.setupNotebookFromBlocks(code, l.config,
                                                                          l.rendermime);
              thebe.notebook = notebook;
              thebe.renderAllCells(l.options, notebook, items);
              l.notebook = notebook;
              mark("cells");
              resolve();
            } catch (e) {
              reject(e);
            }
          }, 0);
        });
        cells.catch(function () { cells = null; });  // Try again makes them again
      }
      return cells;
    }

    // a session for the page's cells: a new launch when *ended* says the last one is gone
    var connecting = false;
    async function connect(ended) {
      if (connecting) return;
      connecting = true;
      var thebe = window.thebe;
      say(ended ? "launching" : "waiting", ended ? "The live session ended; starting a new one…"
                                                 : "Waiting for the launcher…");
      try {
        run += 1;
        if (ended) {
          current = null;
          try { thebe.session.kernel.dispose(); } catch (e) { /* already gone */ }
          try { thebe.server.dispose(); } catch (e) { /* already gone */ }
        }
        await attach(await session());
      } catch (e) {
        sayFailed((e && e.message) || String(e));
      }
      connecting = false;
    }

    async function attach(s) {
      var thebe = window.thebe;
      var l = configure();
      l.config.serverSettings = serverSettings(s);
      var server = window.thebeCore.api.makeServer(l.config);
      thebe.server = server;
      server.connectToJupyterServer();
      await Promise.all([server.ready, liveCells()]);
      var fresh = await server.startNewSession(l.rendermime,
                                               {path: s.path || cfg.path,
                                                kernelName: cfg.kernel});
      l.notebook.attachSession(fresh);
      thebe.session = fresh;
      watch(fresh, s);
      mark("ready");
      sayReady();
    }

    async function start() {
      mark("click");
      run += 1;
      started = true;
      button.setAttribute("aria-pressed", "true");
      say("waiting", "Waiting for the launcher…");
      markCells();
      describeFigures();
      try {
        // the launch, and thebe's files then the live cells, at the same time
        var both = await Promise.all([session(), loadThebe().then(function () {
          mark("thebe-loaded");
          liveCells().catch(function () {});  // attach waits for them (and says why)
        })]);
        await attach(both[0]);
      } catch (e) {
        started = false;
        run += 1;  // what the abandoned attempt still reports is not shown
        sayFailed((e && e.message) || String(e));
      }
    }

    button.addEventListener("click", function () {
      if (!started) start();
    });
  });
})();
