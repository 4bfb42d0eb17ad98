"""A session made ready for its reader: the post's files in place, the notebook's kernel
answering and the notebook open in JupyterLab's workspace."""

from __future__ import annotations

import asyncio
import logging

from publisher.config import LauncherSection
from publisher.launcher import jupyter
from publisher.launcher.answers import ImageAnswers
from publisher.launcher.posts import PublishedPost
from publisher.launcher.records import Session

log = logging.getLogger("publish.launcher")


async def prepare(session: Session, base: str, files: dict[str, bytes], pe: PublishedPost,
                  settings: LauncherSection, post_url: str, answers: ImageAnswers) -> None:
    """Upload *files*, start the notebook's kernel and open the notebook (*base*: the
    session's address at the launcher; *post_url*: the post on the blog); the image's
    *answers* learnt from the session when they are not yet (no reader has reached it)."""
    assert session.handle is not None
    # at once: the kernel needs none of the files until the reader runs a cell; when
    # one fails, the other is not left running against a session about to be stopped
    upload = asyncio.ensure_future(
        jupyter.upload_files(session.handle, base, session.token, files))
    kernel = asyncio.ensure_future(
        jupyter.start_kernel(session.handle, base, session.token, pe.notebook_name,
                             session.kernel_id or None, pe.kernel))
    layout = asyncio.ensure_future(jupyter.open_in_workspace(
        session.handle, base, session.token, pe.notebook_name,
        {"slug": pe.slug, "env_id": pe.env_id,
         # a session's own host serves the session only: no launch page there
         "launch": "" if settings.session_host else f"{settings.base_url}launch/{pe.slug}",
         "post": post_url}))
    learn = asyncio.ensure_future(answers.learn(session.image, session.handle, base,
                                                session.token))
    try:
        await upload
        session.kernel_id = await kernel
        try:
            await layout
        except jupyter.BadAnswer as exc:  # JupyterLab opens it all the same, later
            log.warning("session=%s: the notebook not opened in its workspace: %s",
                        session.id, exc)
        await learn
    finally:
        learn.cancel()
        upload.cancel()
        kernel.cancel()
        layout.cancel()
