/* publish: what a reader typed into a post's live cells, kept in this browser (localStorage)
   per post and env id, so that it survives a reload and a new session; publish-live.js
   reads and writes it. Only code, never a session's address or token. Per cell: the
   reader's source and a hash of the author's source it replaced (the post changed since:
   that edit no longer applies, and is dropped). At most LIMIT characters per post and
   POSTS posts, the least recently saved let go first. Nothing of it reaches a server. */
(function (root) {
  "use strict";
  var PREFIX = "publish-code:", LIMIT = 200000, POSTS = 30;

  // a short hash of a cell's source (FNV-1a, 32 bits): which author's code an edit replaced
  function hash(text) {
    var h = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16);
  }

  function store() {
    try { return window.localStorage; } catch (e) { return null; }  // blocked by the reader
  }

  // {index: source} of the reader's edits that still apply to *originals* (the author's
  // sources, in order), and when they were saved; null when there are none
  function load(key, originals) {
    var s = store(), kept = null;
    try { kept = s && JSON.parse(s.getItem(PREFIX + key) || "null"); } catch (e) { kept = null; }
    if (!kept || typeof kept !== "object" || typeof kept.cells !== "object") return null;
    var out = {}, any = false;
    Object.keys(kept.cells).forEach(function (i) {
      var c = kept.cells[i], n = Number(i);
      if (c && typeof c.source === "string" && Number.isInteger(n) && n >= 0 &&
          n < originals.length && c.of === hash(originals[n]) && c.source !== originals[n]) {
        out[n] = c.source;
        any = true;
      }
    });
    return any ? {cells: out, saved: Number(kept.saved) || 0} : null;
  }

  // keep *sources* (the cells' code now) where they differ from *originals*; false when the
  // browser would not keep them (no storage, or over the limit)
  function save(key, originals, sources) {
    var s = store();
    if (!s) return false;
    var cells = {}, size = 0, any = false;
    sources.forEach(function (src, i) {
      if (i < originals.length && src !== originals[i]) {
        cells[i] = {of: hash(originals[i]), source: src};
        size += src.length;
        any = true;
      }
    });
    try {
      if (!any) { s.removeItem(PREFIX + key); return true; }
      if (size > LIMIT) return false;
      s.setItem(PREFIX + key, JSON.stringify({v: 1, saved: Date.now(), cells: cells}));
      trim(s);
      return true;
    } catch (e) {
      return false;  // full
    }
  }

  // at most POSTS posts' edits: the least recently saved go
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

  function forget(key) {
    var s = store();
    try { if (s) s.removeItem(PREFIX + key); } catch (e) { /* nothing kept */ }
  }

  root.publishKeep = {load: load, save: save, forget: forget};
})(window);
