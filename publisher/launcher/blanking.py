"""JupyterLab's pages on their way to a browser: Jupyter's token blanked.

JupyterLab writes the session's token into every page's config (``jupyter-config-data``);
a browser that had it could reach the session without the launcher's credential, and a
guest of a shared session would keep it after the reader stopped sharing. The proxy reads
a session's HTML page whole (bounded), decoded, blanks the token, and sends it on
gzipped again when Jupyter sent it gzipped (a JupyterLab page is a few kB; compressing it
once more costs well under a millisecond).
"""

from __future__ import annotations

import gzip
import zlib

import httpx
from starlette.responses import Response

PAGE_LIMIT = 4 << 20  # bytes of a session's HTML page the proxy reads to blank the token


async def page_without_token(upstream: httpx.Response, token: str,
                             headers: list[tuple[bytes, bytes]]) -> Response:
    """The answer for a session's HTML *upstream* response (*headers*: the allow-listed
    ones), *token* blanked; gzipped as it came, or as it is."""
    page = await _page(upstream, token)
    kept = [(k, v) for k, v in headers if k != b"content-encoding"]
    if upstream.headers.get("content-encoding", "").strip().lower() == "gzip" and page:
        page = gzip.compress(page, 6, mtime=0)
        kept.append((b"content-encoding", b"gzip"))
    response = Response(page, status_code=upstream.status_code)
    response.raw_headers = [*kept, (b"content-length", str(len(page)).encode())]
    return response


async def _page(upstream: httpx.Response, secret: str) -> bytes:
    """A session's HTML page, decoded, with *secret* (Jupyter's token, which JupyterLab
    writes into its page config) blanked; a page too big or in an unknown encoding is
    replaced by a sentence (a session may send anything)."""
    raw = bytearray()
    try:
        async for chunk in upstream.aiter_raw():
            raw += chunk
            if len(raw) > PAGE_LIMIT:
                return b"This session sent a page too big for the launcher to pass on."
    except httpx.HTTPError:
        pass  # what came, as a broken streamed body would end
    finally:
        await upstream.aclose()
    encoding = upstream.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip":
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            page = inflate.decompress(bytes(raw), PAGE_LIMIT)
        except zlib.error:
            return b"This session sent a page the launcher could not read."
        if inflate.unconsumed_tail:
            return b"This session sent a page too big for the launcher to pass on."
    elif encoding in ("", "identity"):
        page = bytes(raw)
    else:
        return b"This session sent a page the launcher could not read."
    return page.replace(secret.encode(), b"") if secret else page
