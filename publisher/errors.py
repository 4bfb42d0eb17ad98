"""User-facing errors: a clean one-paragraph message and an exit code, never a traceback.

Every error a user can cause (bad config, bad front matter, a failing cell, a broken
environment) is one of these. Library code raises them; only the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Iterable

import click


class PublishError(click.ClickException):
    """Base class: the message names the file (and line or cell) and says what to do."""

    exit_code = 1


class ConfigError(PublishError):
    """publish.toml is missing or invalid."""


class ContentError(PublishError):
    """A post, page or its front matter cannot be read."""

    @property
    def problems(self) -> list[str]:
        """Each problem once, as a list of them says it."""
        return [self.message]


class ContentErrors(ContentError):
    """Several problems of one post (its front matter), all said at once."""

    def __init__(self, problems: Iterable[str]) -> None:
        self._problems = list(problems)
        super().__init__("\n".join(self._problems))

    @property
    def problems(self) -> list[str]:
        return list(self._problems)


class EnvSpecError(PublishError):
    """A post's environment files are invalid or not supported."""


class EnvBuildError(PublishError):
    """Realising an environment (virtualenv or image) failed."""

    def __init__(self, message: str, log_tail: list[str] | None = None) -> None:
        self.log_tail = log_tail or []
        if self.log_tail:
            message = message + "\nLast lines of the build log:\n" + "\n".join(
                "  | " + line for line in self.log_tail
            )
        super().__init__(message)


class ExecutionError(PublishError):
    """A notebook failed to execute (an exception or a timeout in a cell)."""


class BackendUnavailable(PublishError):
    """The requested backend cannot be used on this machine."""


class BuildFailed(PublishError):
    """Several problems were found; each is listed."""

    def __init__(self, problems: Iterable[str], header: str = "The build failed:") -> None:
        self.problems = list(problems)
        body = "\n".join(f"- {p}" for p in self.problems)
        super().__init__(f"{header}\n{body}")
