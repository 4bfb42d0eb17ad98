"""httpx's transport with a connection pool of publish's making.

``httpx.AsyncHTTPTransport`` builds its ``httpcore.AsyncConnectionPool`` itself and offers
no argument for the pool's network backend, which is where publish checks every unix
socket it connects to (:mod:`publisher.launcher.sockets`). :func:`transport_over` puts a
pool of the caller's into the transport's ``_pool`` attribute, which
``handle_async_request`` and ``aclose`` use: written for the versions in
:data:`VERSIONS`, checked when this module is imported.
"""

from __future__ import annotations

import httpcore
import httpx

from publisher.compat.versions import require

VERSIONS = ">=0.29,<0.30"
require("httpx", VERSIONS)


def transport_over(pool: httpcore.AsyncConnectionPool, uds: str) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose requests all go through *pool*."""
    transport = httpx.AsyncHTTPTransport(uds=uds)
    transport._pool = pool
    return transport


def pool_of(transport: httpx.AsyncHTTPTransport) -> httpcore.AsyncConnectionPool:
    """The pool a transport sends its requests through (for tests of the patch)."""
    pool: httpcore.AsyncConnectionPool = transport._pool
    return pool
