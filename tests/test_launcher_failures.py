"""What a reader is told of a failed launch: the cause read from the build's log in one
plain sentence, who can fix it, and whether trying again can help (pure functions)."""

from __future__ import annotations

import pytest

from publisher.errors import ContentError, EnvBuildError, EnvSpecError
from publisher.launcher.failures import AUTHOR_ENV, GENERIC, build_failure, cause_of, failure_of

STEP = ("The command '/bin/sh -c . /opt/publish-build/env.sh && cd /opt/spec && "
        "/opt/publish-runtime/bin/uv pip install --no-cache -r requirements.txt' returned a "
        "non-zero code: 1")
UV = ["Step 5/20 : RUN . /opt/publish-build/env.sh && uv pip install -r requirements.txt",
      " ---> Running in 0f3c2a1b9d8e",
      "  × No solution found when resolving dependencies:",
      "  ╰─▶ Because publish-no-such-package-xyzzy was not found in the package registry "
      "and you require publish-no-such-package-xyzzy, we can conclude that your "
      "requirements are unsatisfiable.",
      STEP]


@pytest.mark.parametrize(("lines", "expected", "retry"), [
    (UV, "The package publish-no-such-package-xyzzy was not found in the package registry",
     False),
    (["ERROR: Could not find a version that satisfies the requirement nosuch (from "
      "versions: none)", "ERROR: No matching distribution found for nosuch"],
     "The package nosuch was not found in the package registry", False),
    (["ERROR: Could not find a version that satisfies the requirement numpy==0.0.1 "
      "(from versions: 1.26.4)"], "No version of the package numpy==0.0.1 fits", False),
    (["E: Unable to locate package libnosuch-dev"],
     "The system package libnosuch-dev (apt.txt) was not found", False),
    (["critical libmamba Could not solve for environment specs",
      "    └─ nosuchconda does not exist (perhaps a typo or a missing channel)."],
     "The conda package nosuchconda was not found", False),
    (["PackagesNotFoundError: The following packages are not available from current "
      "channels:"], "The conda packages this post asks for cannot be installed", False),
    (["Error in library(nosuchr) : there is no package called ‘nosuchr’"],
     "The R package nosuchr could not be installed", False),
    (["dockerfile parse error line 3: unknown instruction: RUNN"],
     "The post's Dockerfile has an error", False),
    ([STEP], "A command that sets up this post's environment failed", False),
    (['process "/bin/sh -c ./postBuild" did not complete successfully: exit code: 2'],
     "A command that sets up this post's environment failed", False),
    # a download that failed is trouble on the way, not a missing package: try again
    (["WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError("
      "'<pip._vendor.urllib3.connection.HTTPSConnection>: Failed to establish a new "
      "connection: [Errno -3] Temporary failure in name resolution')'",
      "ERROR: No matching distribution found for numpy"], "could not be downloaded", True),
    (["error: Failed to fetch: `https://pypi.org/simple/numpy/`",
      "  Caused by: dns error: failed to lookup address information"],
     "could not be downloaded", True),
    (["failed to register layer: write /opt/env/lib/x.so: no space left on device"],
     "run out of disk space", False),
])
def test_the_cause_in_the_build_log(lines: list[str], expected: str, retry: bool) -> None:
    found = cause_of(lines)
    assert found is not None and expected in found[0] and found[1] is retry, found


def test_a_log_that_says_nothing_known() -> None:
    assert cause_of(["Step 3/9 : COPY spec /opt/spec", "something odd happened"]) is None
    failure = build_failure("building the env e1 failed: something odd", ["odd"])
    assert failure.message == f"{GENERIC} {AUTHOR_ENV}" and failure.retry is False


def test_a_failed_build_leads_with_its_cause_and_says_the_error_once() -> None:
    exc = EnvBuildError(f"building the env e1 (post binder/) failed: {STEP}", UV)
    failure = failure_of(exc)
    assert failure.message.startswith(
        "The package publish-no-such-package-xyzzy was not found in the package registry")
    assert failure.message.endswith(AUTHOR_ENV) and failure.retry is False
    assert failure.detail == f"building the env e1 (post binder/) failed: {STEP}"
    assert "Last lines" not in failure.detail
    assert STEP not in failure.log and len(failure.log) == len(UV) - 1  # not twice
    assert failure.event() == {"retry": False, "detail": failure.detail, "log": failure.log}


def test_a_missing_base_image_is_the_operators() -> None:
    failure = failure_of(EnvBuildError(
        "the base image python:3.7-slim is not on this machine and cannot be pulled (404)"))
    assert "operator" in failure.message and failure.retry is False


@pytest.mark.parametrize(("exc", "words", "retry"), [
    (ContentError("_publish/files/hello/notes.txt: a link to /etc/passwd, outside the "
                  "published site"), "build and publish the site again", False),
    (EnvSpecError("posts/a/environment.yml: not supported"), AUTHOR_ENV, False),
    (TimeoutError("the session did not answer within 60 s"), "Try again", True),
    (RuntimeError(), "did not start", True),
])
def test_other_failures(exc: BaseException, words: str, retry: bool) -> None:
    failure = failure_of(exc)
    assert words in failure.message and failure.retry is retry
    assert failure.detail == (str(exc) or type(exc).__name__)
