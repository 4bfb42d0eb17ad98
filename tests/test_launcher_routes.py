"""The launcher's routes in process (Starlette's TestClient), against a published site and
a session backend that starts nothing: what each route answers a reader, an operator and
another site's page; and the published site a real build leaves is one the launcher reads."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from starlette.testclient import TestClient

from publisher.backends.base import Backend, BuildEvent, EnvRef, SingleFlight, ignore
from publisher.config import LauncherSection
from publisher.envs.spec import EnvSpec
from publisher.errors import EnvBuildError
from publisher.launcher.app import create_app, create_manager
from publisher.launcher.posts import RECHECK, SiteIndex, read_site
from tests.helpers import published_site

BLOG = "https://blog.example.org"
NOT_FOUND = ("  ╰─▶ Because nosuchpkg was not found in the package registry and you require "
             "nosuchpkg, we can conclude that your requirements are unsatisfiable.")
ADMIN = "the-admin-token"


class NoSessions:
    """A session backend whose every env fails to build: nothing starts, nothing runs."""

    name = "fake"

    def __init__(self) -> None:
        self.flights = SingleFlight()

    def ensure_env(self, spec: EnvSpec, env_id: str, on_event: Any = ignore) -> EnvRef:
        on_event(BuildEvent("building", f"Building env {env_id}"))
        raise EnvBuildError(f"env {env_id} ({spec.origin}): installing packages failed",
                            [NOT_FOUND])

    def find_sessions(self) -> list[tuple[str, dict[str, str], bool]]:
        return []

    def ping(self) -> bool:
        return True

    def session_alive(self, handle: Any) -> bool:
        return False


def launcher_app(out: Path, runtime: Path) -> Any:
    settings = LauncherSection(runtime_dir=str(runtime), admin_token=ADMIN)
    manager = create_manager(out, cast(Backend, NoSessions()), settings)
    return create_app(manager, keep_sessions=False)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    published_site(tmp_path / "out", ["hello"], base_url=f"{BLOG}/")
    with TestClient(launcher_app(tmp_path / "out", tmp_path / "rt"),
                    base_url="http://127.0.0.1:8080") as c:
        yield c


def events(client: TestClient, slug: str) -> list[dict[str, Any]]:
    """The launch stream's events, up to the last."""
    found = []
    with client.stream("GET", f"/build/post/{slug}") as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith(
            "text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                found.append(json.loads(line[6:]))
                if found[-1]["phase"] in ("ready", "failed"):
                    break
    return found


def test_the_launch_page_of_a_post(client: TestClient) -> None:
    r = client.get("/launch/hello")
    assert r.status_code == 200 and "Hello" in r.text
    assert "/build/post/hello" in r.text and "lab/tree/index.ipynb" in r.text
    nonce = r.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in r.text and r.headers["referrer-policy"] == "no-referrer"
    assert f"{BLOG}/posts/hello/" in r.text  # back to the post on the blog


@pytest.mark.parametrize("path", ["/launch/nope", "/v2/post/nope", "/launch/Bad_Slug!",
                                  "/launch/hello?labpath=../../etc/passwd",
                                  "/launch/hello?urlpath=/etc/passwd"])
def test_no_such_post_or_a_malformed_link_is_404(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404 and "There is no post" in r.text


def test_the_stream_of_an_unknown_post_is_404(client: TestClient) -> None:
    r = client.get("/build/post/nope")
    assert r.status_code == 404 and r.json()["phase"] == "failed"


def test_the_stream_of_a_launch_that_fails(client: TestClient) -> None:
    found = events(client, "hello")
    assert [e["phase"] for e in found] == ["building", "failed"], found
    # the cause first, in words for the reader; retrying cannot help; the rest folded
    assert found[-1]["message"] == (
        "The package nosuchpkg was not found in the package registry, so this post's "
        "environment could not be built. The post's author has to fix the post's "
        "environment.")
    assert found[-1]["retry"] is False
    assert found[-1]["detail"] == "env e1 (none): installing packages failed"
    assert found[-1]["log"] == [NOT_FOUND]
    assert "publish_launch_failures_total 1.0" in client.get("/metrics").text


def test_health_versions_metrics(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "backend": "fake",
                                            "sessions": 0}
    versions = client.get("/versions").json()
    assert versions["backend"] == "fake" and versions["binderhub"].startswith("1.")
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "places_taken 0.0" in metrics.text


def test_the_sessions_api_wants_the_admin_token_in_the_header(client: TestClient) -> None:
    assert client.get("/api/sessions").status_code == 403
    assert client.get(f"/api/sessions?token={ADMIN}").status_code == 403
    r = client.get("/api/sessions", headers={"Authorization": f"token {ADMIN}"})
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize(("origin", "status"), [(BLOG, 204), ("https://evil.example", 403)])
def test_cors_preflight_of_a_session_call(client: TestClient, origin: str,
                                          status: int) -> None:
    r = client.options("/sessions/" + "0" * 32 + "/api/kernels", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert r.status_code == status
    assert (r.headers.get("access-control-allow-origin") == origin) == (status == 204)


def test_the_launch_stream_is_readable_by_the_blog_only(client: TestClient) -> None:
    r = client.get("/build/post/nope", headers={"Origin": BLOG})
    assert r.headers["access-control-allow-origin"] == BLOG
    r = client.get("/build/post/nope", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_no_published_site_says_so(tmp_path: Path) -> None:
    with TestClient(launcher_app(tmp_path / "out", tmp_path / "rt")) as client:
        r = client.get("/launch/hello")
        assert r.status_code == 503 and "no published site" in r.text
        r = client.get("/build/post/hello")
        assert r.status_code == 503 and r.headers["retry-after"] == "60"


def test_a_site_json_it_cannot_read_says_so(tmp_path: Path) -> None:
    (tmp_path / "out/_publish").mkdir(parents=True)
    (tmp_path / "out/_publish/site.json").write_text('{"posts": []}')  # an older publish's
    with TestClient(launcher_app(tmp_path / "out", tmp_path / "rt")) as client:
        r = client.get("/launch/hello")
        assert r.status_code == 503 and "no published site" in r.text


def test_a_post_published_later_is_launched(tmp_path: Path) -> None:
    with TestClient(launcher_app(tmp_path / "out", tmp_path / "rt")) as client:
        assert client.get("/launch/hello").status_code == 503
        published_site(tmp_path / "out", ["hello"])
        deadline = time.monotonic() + 10 * RECHECK  # looked at again within RECHECK
        while client.get("/launch/hello").status_code != 200:
            assert time.monotonic() < deadline, "the published site was never read"
            time.sleep(0.05)


# --- the contract: what a real build publishes is what the launcher reads ---------------

@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from publisher.pipeline.pipeline import BuildOptions, build
    from tests.conftest import CONFIG, md_post, write_files

    root = tmp_path_factory.mktemp("contract")
    write_files(root, {
        "publish.toml": CONFIG,
        "posts/hello/index.md": md_post("Hello", "2024-01-01", "# Hello\n"),
        "posts/hello/data/table.csv": "x\n1\n",
        "posts/hello/binder/requirements.txt": "tabulate==0.9.0\n",
        "posts/hello/binder/postBuild": "echo built\n",
        "posts/plain/index.md": md_post("Plain", "2024-01-02", "# Plain\n"),
    })
    (root / "posts/hello/binder/postBuild").chmod(0o755)
    build(root, BuildOptions(execute="off"))
    return root / "_site"


def test_a_built_site_is_a_launchable_published_site(built: Path) -> None:
    site = read_site(built)
    hello, plain = site.by_slug["hello"], site.by_slug["plain"]
    assert hello.notebook_name == "index.ipynb" and hello.kernel == "python3"
    spec = hello.spec
    assert spec.root is not None and spec.root.is_relative_to(built / "_publish")
    assert spec.files == ("postBuild", "requirements.txt") and spec.origin == "post binder/"
    assert spec.read("requirements.txt") == "tabulate==0.9.0\n"
    assert spec.path("postBuild").stat().st_mode & 0o100  # still executable
    assert plain.spec.root is None or plain.spec.files == ()
    files = SiteIndex(built).session_files(hello)
    assert set(files) == {"data/table.csv", "index.ipynb"}  # binder/ is the env's
    assert files["data/table.csv"] == b"x\n1\n"
    assert json.loads(files["index.ipynb"])["cells"]
    manifest = json.loads((built / "_publish/site.json").read_text())
    for key in ("title", "base_url", "launch_url"):  # what site.json always said
        assert key in manifest
    assert {"slug", "title", "date", "tags", "authors", "summary", "url", "source",
            "notebook", "env_id", "env_ref", "env_files", "network"} <= set(
        manifest["posts"][0])
