"""Answers of Jupyter's that depend only on the image, kept once per image.

Every reader's JupyterLab asks its session for ``api/nbconvert`` as it starts (the formats
of "Save and Export Notebook As"); Jupyter lists nbconvert's exporters for it, 0.2 s of the
session's CPU, a sixth of what a launch costs on the host. The answer is the image's (the
exporters installed in it), so the launcher keeps the first one per image and answers the
others itself.

Kept only from a session that no reader has reached yet (asked while it is prepared, before
its reader is let in): what a reader changes in their session never reaches another reader.
"""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from publisher.backends.sessions import SessionHandle
from publisher.launcher import jupyter

log = logging.getLogger("publish.launcher")

NBCONVERT = "api/nbconvert"
MOST = 64 * 1024  # bytes of an answer kept (Jupyter's is about 3 kB)


class ImageAnswers:
    """``api/nbconvert`` answers by image id."""

    def __init__(self) -> None:
        self._nbconvert: dict[str, bytes] = {}

    def known(self, image: str) -> bool:
        return image in self._nbconvert

    async def learn(self, image: str, handle: SessionHandle, base: str, token: str) -> None:
        """Ask a session not yet handed to its reader (at *base*) for the image's answer;
        on any problem, nothing is kept (readers' JupyterLabs ask their own sessions)."""
        if not image or image in self._nbconvert:
            return
        try:
            answer = await jupyter.nbconvert_formats(handle, base, token)
        except jupyter.BadAnswer as exc:
            log.info("image %s: api/nbconvert not kept: %s", image[:19], exc)
            return
        body = json.dumps(answer).encode()
        if len(body) <= MOST:
            self._nbconvert[image] = body

    def response(self, image: str, target: bytes, prefix: str, method: str) -> Response | None:
        """The kept answer to a reader's ``GET <prefix>api/nbconvert`` (None: proxy it)."""
        if method != "GET" or target != f"{prefix}{NBCONVERT}".encode():
            return None
        body = self._nbconvert.get(image)
        if body is None:
            return None
        return Response(body, media_type="application/json",
                        headers={"Cache-Control": "no-store"})
