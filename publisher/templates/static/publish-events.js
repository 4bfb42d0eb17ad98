/* publish: the launch stream (BinderHub's API), read by the launcher's launch page and by
   a post's "Run code here". fetch, not EventSource: EventSource reads neither a refusal's
   status nor its body (the reason, and whether trying again helps). */
(function (root) {
  "use strict";

  // The events of a Server-Sent Events answer, each event's data parsed as JSON, to
  // *onData* until it returns true (then true) or the stream ends (then false).
  async function read(response, onData) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    try {
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) return false;
        buffer += decoder.decode(chunk.value, {stream: true});
        // a line ends with \n, \r\n or \r; a \r last in the chunk may be half of a \r\n
        var held = buffer.slice(-1) === "\r" ? "\r" : "";
        var text = (held ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
        var end;
        while ((end = text.indexOf("\n\n")) >= 0) {
          var data = text.slice(0, end).split("\n")
            .filter(function (l) { return l.indexOf("data:") === 0; })
            .map(function (l) { return l.slice(l.charAt(5) === " " ? 6 : 5); }).join("\n");
          text = text.slice(end + 2);
          if (data && onData(JSON.parse(data))) return true;
        }
        buffer = text + held;
      }
    } finally {
      reader.cancel().catch(function () {});
    }
  }

  // Ask *url* for its launch stream: {response} when it started, {refused: {status,
  // message, retry}} when the launcher said no (its JSON body's message and retry; null
  // and undefined when the body is not the launcher's). Throws when nothing answered.
  async function open(url) {
    var response = await fetch(url, {headers: {Accept: "text/event-stream"},
                                     cache: "no-store"});
    if (response.ok) return {response: response};
    var body = null;
    try { body = await response.json(); } catch (e) { /* not the launcher's JSON */ }
    return {refused: {status: response.status, message: (body && body.message) || null,
                      retry: body ? body.retry : undefined}};
  }

  root.publishEvents = {open: open, read: read};
})(window);
