"""The launcher's own answers for what depends only on the image (api/nbconvert)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from publisher.backends.sessions import SessionHandle
from publisher.launcher import jupyter
from publisher.launcher.answers import ImageAnswers

PREFIX = "/sessions/abc/"
HANDLE = SessionHandle(session_id="abc", socket=Path("/nonexistent"), ref="x")


def learnt(answer: Any, monkeypatch: pytest.MonkeyPatch) -> ImageAnswers:
    async def formats(*_: Any) -> Any:
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(jupyter, "nbconvert_formats", formats)
    kept = ImageAnswers()
    asyncio.run(kept.learn("sha256:img", HANDLE, PREFIX, "t"))
    return kept


def test_only_a_get_of_exactly_api_nbconvert_is_answered(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = learnt({"html": {"output_mimetype": "text/html"}}, monkeypatch)
    r = kept.response("sha256:img", f"{PREFIX}api/nbconvert".encode(), PREFIX, "GET")
    assert r is not None and r.body == b'{"html": {"output_mimetype": "text/html"}}'
    assert r.headers["content-type"] == "application/json"
    for image, path, method in (
            ("sha256:other", "api/nbconvert", "GET"),  # another image: its sessions answer
            ("sha256:img", "api/nbconvert", "POST"),
            ("sha256:img", "api/nbconvert/html/index.ipynb", "GET"),  # an export: the session's
            ("sha256:img", "api/contents", "GET")):
        assert kept.response(image, f"{PREFIX}{path}".encode(), PREFIX, method) is None


def test_a_bad_or_huge_answer_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    for answer in (jupyter.BadAnswer("no"), {"x": "y" * 100_000}):
        kept = learnt(answer, monkeypatch)
        assert not kept.known("sha256:img")
        assert kept.response("sha256:img", f"{PREFIX}api/nbconvert".encode(), PREFIX,
                             "GET") is None
