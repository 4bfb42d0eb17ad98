/* publish-keep: a JupyterLab 4 extension of publish's, in every session's runtime.
 *
 * What a reader changes in a post's notebooks is kept in their browser (localStorage) as
 * they edit, per post and env id: when the session is gone (ended idle, past its age, its
 * container killed, the launcher restarted) the page says so and offers Download (from the
 * browser alone, no server needed) and a new session with the reader's changes; a later
 * session of the same post offers them again, or the author's original.
 *
 * Written by hand as a federated module (JupyterLab loads `_JUPYTERLAB[name]`: init(),
 * get("./extension") -> a factory of {default: [plugins]}): it imports nothing of
 * JupyterLab's, only uses the application object its plugin is given, so no build step
 * is needed. The post comes from the session's workspace ("publish:post", written by the
 * launcher when it prepares the session); a JupyterLab without it (not a post's session)
 * is left alone.
 */
var _JUPYTERLAB;
(function () {
  "use strict";
  var PREFIX = "publish-lab:";
  var LIMIT = 4000000;  // characters per post (outputs dropped first, then not kept)
  var POSTS = 20;  // posts kept, the least recently saved let go first
  var CHECK_MS = 5000;  // how often the session is asked whether it still answers

  function config(name) {
    var el = document.getElementById("jupyter-config-data");
    try { return el ? JSON.parse(el.textContent || "{}")[name] : undefined; } catch (e) { return undefined; }
  }

  function store() {
    try { return window.localStorage; } catch (e) { return null; }
  }

  function read(key) {
    var s = store();
    try {
      var v = s && JSON.parse(s.getItem(key) || "null");
      return v && typeof v === "object" && v.notebooks && typeof v.notebooks === "object" ? v : null;
    } catch (e) {
      return null;
    }
  }

  function trim(s) {
    var keys = [];
    for (var i = 0; i < s.length; i++) {
      var k = s.key(i);
      if (k && k.indexOf(PREFIX) === 0) {
        var saved = 0;
        try { saved = Number(JSON.parse(s.getItem(k)).saved) || 0; } catch (e) { saved = 0; }
        keys.push([saved, k]);
      }
    }
    keys.sort(function (a, b) { return a[0] - b[0]; });
    keys.slice(0, Math.max(0, keys.length - POSTS)).forEach(function (k) { s.removeItem(k[1]); });
  }

  // keep *content* (a notebook's JSON) as *path* of the post *key*; "kept", "no-outputs"
  // (kept without its outputs: too large with them) or "" (not kept)
  function write(key, path, content) {
    var s = store();
    if (!s) return "";
    var kept = read(key) || {v: 1, notebooks: {}};
    var how = "kept";
    kept.notebooks[path] = {saved: Date.now(), content: content};
    kept.saved = Date.now();
    var text = JSON.stringify(kept);
    if (text.length > LIMIT) {
      how = "no-outputs";
      var bare = JSON.parse(JSON.stringify(content));
      (bare.cells || []).forEach(function (c) { if (c.outputs) c.outputs = []; });
      kept.notebooks[path].content = bare;
      text = JSON.stringify(kept);
      if (text.length > LIMIT) return "";
    }
    try {
      s.setItem(key, text);
      trim(s);
      return how;
    } catch (e) {
      return "";
    }
  }

  function download(path, content) {
    var blob = new Blob([JSON.stringify(content, null, 1) + "\n"],
                        {type: "application/x-ipynb+json"});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = path.split("/").pop() || "notebook.ipynb";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 10000);
  }

  var STYLE = [
    ".publish-keep-back{position:fixed;inset:0;z-index:10000;background:rgba(0,0,0,.45);",
    "display:flex;align-items:center;justify-content:center;padding:1rem}",
    ".publish-keep{max-width:34rem;background:var(--jp-layout-color1,#fff);",
    "color:var(--jp-ui-font-color1,#222);border:1px solid var(--jp-border-color1,#bbb);",
    "border-radius:6px;padding:1.2rem 1.4rem;font:var(--jp-ui-font-size1,14px)/1.5 ",
    "var(--jp-ui-font-family,system-ui,sans-serif);box-shadow:0 .5rem 2rem rgba(0,0,0,.3)}",
    ".publish-keep h2{font-size:1.15rem;margin:0 0 .6rem}",
    ".publish-keep p{margin:0 0 .8rem}",
    ".publish-keep-actions{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1rem}",
    ".publish-keep button{font:inherit;min-height:2rem;padding:.3rem .9rem;border-radius:4px;",
    "cursor:pointer;border:1px solid var(--jp-brand-color1,#1976d2);",
    // text at 4.5:1 or more in the light and the dark theme: the theme's own text colour,
    // white on the darker brand blue (the dark theme's brand-color1 gives white 3.1:1)
    "background:var(--jp-layout-color1,#fff);color:var(--jp-ui-font-color1,#222)}",
    ".publish-keep button.publish-keep-main{background:var(--jp-brand-color0,#0d47a1);",
    "border-color:var(--jp-brand-color0,#0d47a1);color:#fff}",
    ".publish-keep button:focus-visible{outline:3px solid var(--jp-brand-color2,#64b5f6);",
    "outline-offset:2px}",
    ".publish-keep input{font:inherit;width:100%;box-sizing:border-box;padding:.3rem .4rem;",
    "background:var(--jp-layout-color2,#eee);color:inherit;",
    "border:1px solid var(--jp-border-color1,#bbb);border-radius:4px}",
    ".publish-share-button{position:fixed;top:3px;right:.6rem;z-index:10001;font:inherit;",
    "font-size:var(--jp-ui-font-size1,13px);min-height:24px;padding:0 .8rem;border-radius:4px;",
    "cursor:pointer;border:1px solid var(--jp-brand-color0,#0d47a1);",
    "background:var(--jp-brand-color0,#0d47a1);color:#fff}",
    ".publish-share-button:focus-visible{outline:3px solid var(--jp-brand-color2,#64b5f6);",
    "outline-offset:2px}"
  ].join("");

  function styled() {
    if (document.getElementById("publish-keep-style")) return;
    var st = document.createElement("style");
    st.id = "publish-keep-style";
    st.textContent = STYLE;
    document.head.appendChild(st);
  }

  // a dialog over JupyterLab: *title*, *lines*, *actions* ([label, fn, main?]); the first
  // action takes the focus
  function dialog(title, lines, actions) {
    styled();
    var old = document.querySelector(".publish-keep-back");
    if (old) old.remove();
    var back = document.createElement("div");
    back.className = "publish-keep-back";
    var box = document.createElement("div");
    box.className = "publish-keep";
    box.setAttribute("role", "alertdialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-labelledby", "publish-keep-title");
    var h = document.createElement("h2");
    h.id = "publish-keep-title";
    h.textContent = title;
    box.appendChild(h);
    lines.forEach(function (text) {
      var p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
    });
    var row = document.createElement("div");
    row.className = "publish-keep-actions";
    var buttons = actions.map(function (a) {
      var b = document.createElement("button");
      b.type = "button";
      b.textContent = a[0];
      if (a[2]) b.className = "publish-keep-main";
      b.addEventListener("click", a[1]);
      row.appendChild(b);
      return b;
    });
    box.appendChild(row);
    back.appendChild(box);
    // JupyterLab's keyboard shortcuts stay out of the dialog
    back.addEventListener("keydown", function (e) { e.stopPropagation(); }, true);
    document.body.appendChild(back);
    if (buttons.length) buttons[0].focus();
    return back;
  }

  // Share this session ([launcher] sharing = true): for the reader who launched it only;
  // the launcher makes and ends the links (a capability of their own) and says who may
  function sharing(base) {
    var api = base + "_publish/share";
    function close() { var d = document.querySelector(".publish-keep-back"); if (d) d.remove(); }
    async function stop() {
      var r = await fetch(api, {method: "DELETE", credentials: "same-origin"});
      dialog(r.ok ? "Sharing stopped" : "Sharing could not be stopped",
             [r.ok ? "Every link to this session stopped working, and its guests were " +
                     "disconnected." : await r.text()], [["Close", close, true]]);
    }
    async function share() {
      var r = await fetch(api, {method: "POST", credentials: "same-origin"});
      if (!r.ok) {
        dialog("This session cannot be shared", [await r.text()], [["Close", close, true]]);
        return;
      }
      var url = (await r.json()).url;
      var back = dialog("Share this session", [
        "Whoever opens this link works in this session with you: the same files and " +
        "kernels (a variable one of you sets, the other can read). Edits to an open " +
        "notebook are not merged as you type: save, and the other reloads it.",
        "The link works until the session ends or you stop sharing."], [
        ["Copy link", function () {
          var field = back.querySelector("input");
          field.select();
          if (navigator.clipboard) navigator.clipboard.writeText(url).catch(function () {});
          else document.execCommand("copy");
        }, true],
        ["Stop sharing", stop],
        ["Close", close]]);
      var field = document.createElement("input");
      field.readOnly = true;
      field.value = url;
      field.setAttribute("aria-label", "The share link");
      back.querySelector(".publish-keep").insertBefore(field,
        back.querySelector(".publish-keep-actions"));
    }
    fetch(api, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (state) {
      if (!state || !state.owner) return;
      styled();
      var b = document.createElement("button");
      b.type = "button";
      b.className = "publish-share-button";
      b.textContent = "Share";
      b.title = "Make a link to this live session: whoever opens it works in it with you";
      b.addEventListener("click", share);
      document.body.appendChild(b);
    }).catch(function () {});
  }

  // the command of a run key: Shift+Enter, Ctrl/Cmd+Enter, Alt+Enter ("" for other keys)
  function runCommand(ev) {
    if (ev.key !== "Enter") return "";
    var ctrl = ev.ctrlKey || ev.metaKey;
    if (ev.shiftKey && !ctrl && !ev.altKey) return "notebook:run-cell-and-select-next";
    if (ctrl && !ev.shiftKey && !ev.altKey) return "notebook:run-cell";
    if (ev.altKey && !ev.shiftKey && !ctrl) return "notebook:run-cell-and-insert-below";
    return "";
  }

  // JupyterLab shows a notebook before it has joined the notebook's session on the server
  // (it lists the sessions first: a round trip, seconds on a slow connection or a busy
  // host). A run asked for in between finds "no kernel": JupyterLab starts a second one
  // or opens "Select Kernel", and the run is lost. The launcher starts the notebook's
  // kernel before the reader comes in, so such a run only waits until JupyterLab has
  // joined it, then goes on as asked (the keys in order, nothing typed into the cell).
  function holdEarlyRuns(app) {
    function hold(ev, command) {
      var panel = app.shell.currentWidget;
      var sc = panel && panel.sessionContext;
      if (!sc || !panel.node || !panel.node.classList.contains("jp-NotebookPanel") ||
          !panel.node.contains(ev.target)) return;  // a notebook's (a console runs its own way)
      // joined, or decided (no kernel to join): JupyterLab's own way
      if ((sc.session && sc.session.kernel) || sc.isReady || sc.isDisposed) return;
      ev.preventDefault();
      ev.stopImmediatePropagation();
      sc.ready.then(function () {
        if (sc.session && sc.session.kernel && app.shell.currentWidget === panel) {
          return app.commands.execute(command);
        }
      }).catch(function () {});
    }
    window.addEventListener("keydown", function (ev) {
      var command = runCommand(ev);
      if (command) hold(ev, command);
    }, true);
    // the toolbar's run buttons, the same
    window.addEventListener("click", function (ev) {
      var button = ev.target && ev.target.closest &&
        ev.target.closest("[data-command^='notebook:run-']");
      if (button) hold(ev, button.getAttribute("data-command"));
    }, true);
  }

  function activate(app) {
    holdEarlyRuns(app);
    var base = config("baseUrl") || "/";
    var contents = app.serviceManager.contents;
    var tracked = [];  // the notebooks' document contexts
    var key = null, post = null, pending = {}, ended = false, warned = false;

    function saveNow(ctx) {
      delete pending[ctx.path];
      if (!key || !ctx.model) return;
      var how = write(key, ctx.path, ctx.model.toJSON());
      if (!how && !warned) {
        warned = true;
        console.warn("publish-keep: this browser does not keep " + ctx.path +
                     " (its storage is off or full)");
      }
    }
    function saveSoon(ctx) {
      clearTimeout(pending[ctx.path]);
      pending[ctx.path] = setTimeout(function () { saveNow(ctx); }, 500);
    }
    function flush() {
      tracked.forEach(function (ctx) { if (pending[ctx.path] !== undefined) saveNow(ctx); });
    }

    // what the reader wrote: each cell's type and source (JupyterLab changes a notebook's
    // metadata as it opens it, and outputs change when cells merely run)
    function written(ctx) {
      var cells = (ctx.model.toJSON().cells || []).map(function (c) {
        return [c.cell_type, Array.isArray(c.source) ? c.source.join("") : c.source];
      });
      return JSON.stringify(cells);
    }

    // a notebook is kept once the reader has changed what is written in it (then with its
    // outputs, as they are), not before: an earlier session's changes stay kept until then
    function track(widget) {
      var ctx = widget && widget.context;
      if (!ctx || !ctx.path || !/\.ipynb$/.test(ctx.path) || tracked.indexOf(ctx) >= 0) return;
      tracked.push(ctx);
      ctx.ready.then(function () {
        var authors = written(ctx);  // as the session's file had it when opened
        ctx.model.contentChanged.connect(function () {
          if (!ended && written(ctx) !== authors) saveSoon(ctx);
        });
      });
    }
    function trackAll() {
      var it = app.shell.widgets("main");
      for (var w = it.next(); w && !w.done && w.value !== undefined; w = it.next()) track(w.value);
    }
    function trackAllSafe() {
      try { trackAll(); } catch (e) { /* an iterator of another shape: the next change */ }
    }

    // a notebook's path in the session's folder (what is kept is read back from storage
    // that any page of this origin may write: nothing else is put into the session)
    function notebookPath(path) {
      return typeof path === "string" && /^[^/\\][^\\]*\.ipynb$/.test(path) &&
        path.split("/").indexOf("..") < 0 && path.split("/").indexOf(".") < 0;
    }

    // put the kept notebooks into this session (contents API) and show them; never as
    // trusted (Jupyter signs a notebook whose cells say so: their HTML and scripts would
    // run as the reader opens it)
    async function restore(kept) {
      var paths = Object.keys(kept.notebooks).filter(notebookPath);
      for (var i = 0; i < paths.length; i++) {
        var content = JSON.parse(JSON.stringify(kept.notebooks[paths[i]].content || {}));
        (content.cells || []).forEach(function (c) {
          if (c && c.metadata && typeof c.metadata === "object") delete c.metadata.trusted;
        });
        await contents.save(paths[i], {type: "notebook", format: "json", content: content});
      }
      tracked.forEach(function (ctx) {
        if (paths.indexOf(ctx.path) >= 0) ctx.revert();
      });
    }

    function offer(kept, auto) {
      if (auto) return restore(kept);
      var names = Object.keys(kept.notebooks);
      var when = new Date(kept.saved || Date.now()).toLocaleString();
      var back = dialog("Your earlier changes to this post", [
        "You changed " + names.join(", ") + " in an earlier session of this post (last on " +
        when + "). Your version is kept in this browser.",
        "Open your version, or keep the author's original (yours stays kept until you " +
        "change the notebook again)."], [
        ["Open my version", function () { back.remove(); restore(kept); }, true],
        ["Keep the author's original", function () { back.remove(); }],
        ["Download my version", function () {
          names.forEach(function (p) { download(p, kept.notebooks[p].content); });
        }]]);
    }

    function sessionEnded() {
      if (ended) return;
      flush();
      ended = true;
      var kept = read(key);
      var names = kept ? Object.keys(kept.notebooks) : [];
      var lines = ["Sessions end after a while without activity, after their maximum age, " +
                   "or when the server restarts."];
      var actions = [];
      if (names.length) {
        lines.push("Your changes to " + names.join(", ") + " are kept in this browser.");
        names.forEach(function (p) {
          actions.push(["Download " + p.split("/").pop(), function () {
            download(p, read(key).notebooks[p].content);
          }, actions.length === 0]);
        });
        if (post.launch) {
          actions.push(["Start a new session with my changes", function () {
            window.location.href = post.launch + "?publish-restore=1";
          }]);
        }
      } else {
        lines.push("You had not changed its notebooks.");
        if (post.launch) {
          actions.push(["Start a new session", function () {
            window.location.href = post.launch;
          }, true]);
        }
      }
      if (post.post) {
        actions.push(["Back to the post", function () { window.location.href = post.post; }]);
      }
      dialog("This session has ended", lines, actions);
    }

    var failures = 0;
    async function check() {
      if (ended) return;
      var status = 0;
      try {
        var r = await fetch(base + "api/status", {credentials: "same-origin", cache: "no-store"});
        status = r.status;
      } catch (e) {
        status = 0;
      }
      if (status === 200) { failures = 0; return; }
      // the launcher says the session is gone (404, 410) or no longer this browser's (403:
      // its reader stopped sharing it), or nothing answers twice in a row
      if (status === 403 || status === 404 || status === 410 || (++failures >= 2)) {
        sessionEnded();
      }
    }

    app.restored.then(async function () {
      sharing(base);
      var ws = null;
      try { ws = await app.serviceManager.workspaces.fetch("default"); } catch (e) { ws = null; }
      var info = ws && ws.data && ws.data["publish:post"];
      if (!info || typeof info.slug !== "string" || typeof info.env_id !== "string") return;
      // where to go: a path of this host's (the launch page), an http(s) address (the post)
      var launch = String(info.launch || ""), page = String(info.post || "");
      post = {launch: /^\/(?![\/\\])[^\\]*$/.test(launch) ? launch : "",
              post: /^(https?:\/\/|\/(?![\/\\]))[^\\]*$/i.test(page) ? page : ""};
      key = PREFIX + info.slug + ":" + info.env_id;
      var auto = /[?&]publish-restore=1(&|$)/.test(window.location.search);
      var kept = read(key);
      trackAllSafe();
      app.shell.layoutModified.connect(trackAllSafe);
      if (kept && Object.keys(kept.notebooks).length) offer(kept, auto);
      setInterval(check, CHECK_MS);
      if (app.serviceManager.connectionFailure) {
        app.serviceManager.connectionFailure.connect(function () { check(); });
      }
      window.addEventListener("pagehide", flush);
      window.__publishKeep = {key: key, flush: flush, check: check};
    });
  }

  var plugin = {
    id: "publish-keep:plugin",
    description: "Keeps a reader's notebooks in their browser; offers them back when a session ends",
    autoStart: true,
    activate: activate
  };

  _JUPYTERLAB = _JUPYTERLAB || {};
  _JUPYTERLAB["publish-keep"] = {
    init: function () { return Promise.resolve(); },  // it shares and takes no modules
    get: function (module) {
      if (module === "./extension" || module === "./index") {
        return Promise.resolve(function () { return {__esModule: true, default: [plugin]}; });
      }
      return Promise.reject(new Error("publish-keep has no module " + module));
    }
  };
})();
