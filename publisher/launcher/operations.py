"""The launcher's routes for its operator: health, versions, metrics, the sessions API."""

from __future__ import annotations

import hmac
import platform

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from publisher import __version__
from publisher.launcher.proxy import request_token
from publisher.launcher.sessions import SessionManager

BINDERHUB_API = "1.0.0+publish"  # the launch API of BinderHub 1.x this launcher speaks


class Operations:
    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager

    async def health(self, request: Request) -> Response:
        ok = await anyio.to_thread.run_sync(self.manager.backend.ping)
        body = {"status": "ok" if ok else "backend unreachable",
                "backend": self.manager.backend.name,
                "sessions": len(self.manager.sessions)}
        return JSONResponse(body, 200 if ok else 503)

    async def versions(self, request: Request) -> Response:
        # "binderhub": clients that probe for a BinderHub (thebe, MyST) recognise the API
        return JSONResponse({"publish": __version__, "backend": self.manager.backend.name,
                             "python": platform.python_version(),
                             "binderhub": BINDERHUB_API, "builder": f"publish {__version__}"})

    async def metrics(self, request: Request) -> Response:
        m = self.manager
        gauges: dict[str, float] = {"sessions_live": m.live_count(),
                  "sessions_pooled": sum(len(p) for p in m.pool.values()),
                  "sessions_starting": sum(1 for s in m.sessions.values() if s.handle is None),
                  "places_taken": m.used,
                  "readers_waiting": len(m.line),
                  "session_memory_expected_bytes": m.room.expected,
                  "host_memory_available_bytes": m.room.available() or 0,
                  "proxy_clients": len(m.upstreams),
                  "env_builds_started": m.env_builds.started}
        return PlainTextResponse(m.metrics.render(gauges),
                                 media_type="text/plain; version=0.0.4")

    def _admin(self, request: Request) -> bool:
        """The admin token, in the Authorization header only (URLs end up in logs)."""
        want = self.manager.settings.admin_secret.encode("utf-8")
        got, _ = request_token(request.headers, {}, {}, "")
        if not want or got is None:
            return False
        return hmac.compare_digest(want, got.encode("utf-8", "surrogateescape"))

    async def api_sessions(self, request: Request) -> Response:
        if not self._admin(request):
            return JSONResponse({"error": "admin token required"}, 403)
        if request.method == "DELETE":
            await self.manager.stop(request.path_params.get("sid", ""), "admin")
            return Response(status_code=204)
        return JSONResponse([s.public() for s in self.manager.sessions.values()])


