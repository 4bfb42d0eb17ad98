"""Why a launch failed, in words for the reader who clicked Launch.

A failed launch reaches the reader as one ``failed`` event (BinderHub's format, more
fields): ``message`` is a plain sentence of what happened followed by who can fix it;
``retry`` says whether launching again can help (a busy machine, a network hiccup, a
session that did not start: yes; an env whose spec cannot be built: no, until its author
changes it); ``detail`` and ``log`` are the technical account (the error and the last
lines of the build log), which the launch page folds away.

The cause is read from the build log (:func:`cause_of`): pure text, no Docker needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from publisher.errors import ContentError, EnvBuildError, PublishError

AUTHOR_ENV = "The post's author has to fix the post's environment."
GENERIC = "This post's environment could not be built."
NAME = r"['\"‘“`]?([A-Za-z0-9][A-Za-z0-9._+\-]*(?:\[[^\]]*\])?)['\"’”`]?"

# (pattern, sentence with {0} for the name it captured, whether retrying can help);
# the first that matches names the cause. Network trouble comes first: pip reports a
# package it could not download as one "not found".
CAUSES: tuple[tuple[re.Pattern[str], str, bool], ...] = tuple(
    (re.compile(p, re.IGNORECASE), s, r) for p, s, r in (
        (r"Temporary failure in name resolution|Could not resolve host|Name or service not "
         r"known|Network is unreachable|Connection (?:timed out|reset|refused)|Read timed out"
         r"|TLS handshake timeout|i/o timeout|\b(?:502|503|504) (?:Bad Gateway|Service "
         r"Unavailable|Gateway Time-?out)\b|NewConnectionError|dns error",
         "Something this post's environment needs could not be downloaded (a network "
         "problem). Try again in a few minutes.", True),
        (r"no space left on device",
         "The launcher's machine has run out of disk space. The blog's operator has to "
         "free some.", False),
        (rf"Because {NAME} was not found in the package registry",
         "The package {0} was not found in the package registry, so this post's "
         "environment could not be built.", False),
        (rf"No matching distribution found for {NAME}",
         "The package {0} was not found in the package registry (or has no version for "
         "this Python), so this post's environment could not be built.", False),
        (r"Could not find a version that satisfies the requirement ([^\s(]+)",
         "No version of the package {0} fits this post's requirements, so this post's "
         "environment could not be built.", False),
        (r"ResolutionImpossible|requirements are unsatisfiable|conflicting dependencies",
         "The packages this post asks for conflict with each other, so this post's "
         "environment could not be built.", False),
        (rf"Unable to locate package {NAME}",
         "The system package {0} (apt.txt) was not found, so this post's environment "
         "could not be built.", False),
        (rf"nothing provides (?:requested )?{NAME}|{NAME} does not exist \(perhaps a typo",
         "The conda package {0} was not found in the post's channels, so this post's "
         "environment could not be built.", False),
        (r"PackagesNotFoundError|could not solve for environment specs|UnsatisfiableError",
         "The conda packages this post asks for cannot be installed, so this post's "
         "environment could not be built.", False),
        (rf"there is no package called {NAME}",
         "The R package {0} could not be installed, so this post's environment could "
         "not be built.", False),
        (r"dockerfile parse error|unknown instruction",
         "The post's Dockerfile has an error, so this post's environment could not be "
         "built.", False),
        (r"returned a non-zero code|did not complete successfully|exit code: \d+",
         "A command that sets up this post's environment failed, so the environment could "
         "not be built.", False),
    ))


@dataclass(frozen=True)
class Failure:
    """A failed launch as the reader is told of it (see the module's docstring)."""

    message: str
    retry: bool
    detail: str = ""
    log: list[str] = field(default_factory=list)

    def event(self) -> dict[str, Any]:
        """The ``failed`` event's fields beyond its phase."""
        return {"retry": self.retry, "detail": self.detail, "log": self.log}


def cause_of(lines: Iterable[str]) -> tuple[str, bool] | None:
    """(a plain sentence of why a build failed, whether retrying can help), read from its
    error and the last lines of its log; None when nothing in them says."""
    text = "\n".join(lines)
    for pattern, sentence, retry in CAUSES:
        m = pattern.search(text)
        if m:
            name = next((g for g in m.groups() if g), "")
            return sentence.format(name), retry
    return None


def _who(sentence: str, retry: bool) -> str:
    """The sentence, then who can do something about it (when it does not say already)."""
    if retry or "operator" in sentence:
        return sentence
    return f"{sentence} {AUTHOR_ENV}"


def build_failure(message: str, tail: Sequence[str]) -> Failure:
    """What a reader is told of an env build that failed with *message* (the build's
    error, maybe followed by its log) and *tail* (the last lines of its log)."""
    detail = message.split("\nLast lines of the build log:", 1)[0].strip()
    found = cause_of([*tail, detail])
    sentence, retry = found or (GENERIC, False)
    if "cannot be pulled" in detail or "no base image is configured" in detail:
        sentence, retry = ("This launcher has no base image for this post's environment. "
                           "The blog's operator has to provide it."), False
    # the error often ends the log too: say it once
    log = [line for line in tail if line.strip() and line.strip() not in detail]
    return Failure(_who(sentence, retry), retry, detail, log)


def technical(exc: BaseException) -> str:
    """*exc* as the launcher's log and the technical details say it."""
    return exc.message if isinstance(exc, PublishError) else (str(exc) or type(exc).__name__)


def failure_of(exc: BaseException) -> Failure:
    """What a reader is told of a launch that raised *exc*."""
    text = technical(exc)
    if isinstance(exc, EnvBuildError):
        return build_failure(text, exc.log_tail)
    if isinstance(exc, ContentError):
        return Failure("This post's published files cannot be read, so no session was "
                       "started. The blog's author has to build and publish the site "
                       "again.", False, text)
    if isinstance(exc, PublishError):
        return Failure(f"This post cannot be launched here. {AUTHOR_ENV}", False, text)
    return Failure("Your session did not start. Try again; if it fails again, the blog's "
                   "operator has to look at the launcher.", True, text)
