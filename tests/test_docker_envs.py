"""Real Docker: env images built from env specs, and notebooks executed inside them."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from publisher.backends.base import BuildEvent, EnvRef, ExecJob
from publisher.config import load_config
from publisher.envs.ids import env_id
from publisher.envs.spec import EnvSpec, find_env_spec
from publisher.errors import BuildFailed, EnvBuildError
from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import SiteFactory, md_post, notebook, write_files
from tests.helpers import interruptible_build, wait_until

if TYPE_CHECKING:
    from publisher.backends.docker import DockerBackend

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.usefixtures("docker_engine")]


@pytest.fixture(scope="module")
def created() -> list[str]:
    """Images made only for this module's run (unique env ids): removed at its end."""
    return []


@pytest.fixture(scope="module")
def backend(created: list[str]) -> Iterator[DockerBackend]:
    from publisher.backends.docker import DockerBackend

    b = DockerBackend(load_config_base())
    yield b
    for tag in created:  # images made only for this run (unique env ids)
        with contextlib.suppress(Exception):
            b.client.images.remove(tag, force=True)
    b.close()


def load_config_base() -> str:
    import os

    from publisher.config import DEFAULT_BASE_IMAGE

    return os.environ.get("PUBLISH_BASE_IMAGE", DEFAULT_BASE_IMAGE)


def spec_and_id(root: Path, post: str = "posts/p") -> tuple[EnvSpec, str]:
    spec = find_env_spec(root, root / post)
    return spec, env_id(spec, load_config_base())


def run_in(backend: DockerBackend, image: str, cmd: str) -> str:
    out: bytes = backend.client.containers.run(
        image, ["sh", "-c", cmd], remove=True, network_mode="none")
    return out.decode().strip()


def test_image_with_requirements_apt_postbuild_start(tmp_path: Path, backend: DockerBackend) -> None:
    write_files(tmp_path, {
        # a fresh env id every run: the image is really built here, not found
        "posts/p/requirements.txt": f"# {uuid.uuid4().hex}\ntabulate==0.9.0\n",
        "posts/p/apt.txt": "# small tools\njq\n",
        "posts/p/postBuild": "#!/bin/bash\nset -e\npython -c 'import tabulate' && "
                             "echo built-by-$(id -un) > ~/postbuild.txt\n",
        "posts/p/start": "#!/bin/bash\nexport PUBLISH_TEST_START=started\nexec \"$@\"\n",
    })
    spec, eid = spec_and_id(tmp_path)
    events: list[BuildEvent] = []
    ref = backend.ensure_env(spec, eid, events.append)
    assert ref.location == f"publish-env:{eid}"
    try:
        _check_image(backend, spec, eid, ref.location, events)
    finally:
        backend.client.images.remove(ref.location, force=True)


def _check_image(backend: DockerBackend, spec: EnvSpec, eid: str, image: str,
                 events: list[BuildEvent]) -> None:
    assert any(e.phase == "building" for e in events), "a new env id is built"
    assert events[-1].phase == "built"
    again: list[BuildEvent] = []
    backend.ensure_env(spec, eid, again.append)
    assert [e.phase for e in again] == ["built"], "an existing image is never rebuilt"
    ref = EnvRef(eid, "docker", image)
    out = run_in(backend, ref.location,
                 "python -c 'import tabulate; print(tabulate.__version__)'; jq --version; "
                 "cat ~/postbuild.txt; id -u; echo $PUBLISH_TEST_START;"
                 " cat /opt/publish/home/postbuild.txt")
    lines = out.splitlines()
    assert lines[0] == "0.9.0" and re.fullmatch(r"jq-\d+\.\d+.*", lines[1]), lines
    assert lines[2:] == ["built-by-reader", "1000", "started", "built-by-reader"], \
        "postBuild ran as the reader; `start` wraps any command run in the image (as " \
        "repo2docker's entrypoint does); sessions get its $HOME back from /opt/publish/home"
    # the kernel sees what `start` exported too (execution in the image, as at build time)
    job = ExecJob("start-check", notebook(("code", "import os\nprint(os.environ['PUBLISH_TEST_START'])")),
                  None, ())
    result = backend.execute(ref, job)
    assert result.error is None and "started" in result.notebook, result.error
    attrs = backend.client.images.get(ref.location).attrs
    env = " ".join(attrs["Config"]["Env"])
    assert "PIP_CERT" not in env and "SSL_CERT_FILE" not in env, "no build settings in the image"
    assert attrs["Config"]["User"] == "reader"
    labels = attrs["Config"]["Labels"]
    assert labels["org.publish.env_id"] == eid
    assert json.loads(labels["org.publish.spec_files"]) == ["apt.txt", "postBuild",
                                                            "requirements.txt", "start"]
    assert run_in(backend, ref.location, "ls /tmp/publish-build 2>&1 || true").endswith(
        "No such file or directory")


def test_failing_postbuild_and_missing_package(tmp_path: Path, backend: DockerBackend) -> None:
    write_files(tmp_path, {"posts/p/postBuild": "#!/bin/bash\necho preparing data\nexit 3\n",
                           "posts/q/requirements.txt": "publish-no-such-package-xyzzy==1.0\n"})
    spec, eid = spec_and_id(tmp_path)
    with pytest.raises(EnvBuildError) as err:
        backend.ensure_env(spec, eid)
    assert "returned a non-zero code: 3" in err.value.message
    assert "preparing data" in "\n".join(err.value.log_tail)
    spec, eid = spec_and_id(tmp_path, "posts/q")
    with pytest.raises(EnvBuildError) as err:
        backend.ensure_env(spec, eid)
    assert "publish-no-such-package-xyzzy" in err.value.message


def test_binder_precedence_reuse_and_single_flight(tmp_path: Path, backend: DockerBackend,
                                                  created: list[str]) -> None:
    marker = uuid.uuid4().hex  # a fresh env id, so this run really builds
    write_files(tmp_path, {
        "posts/p/binder/requirements.txt": f"# {marker}\ntabulate==0.9.0\n",
        "posts/p/requirements.txt": "publish-no-such-package-xyzzy==1.0\n",  # must be ignored
        "posts/p/index.md": "x",
    })
    spec, eid = spec_and_id(tmp_path)
    assert spec.origin == "post binder/"
    before = backend.flights.builds_started
    logs: dict[int, list[BuildEvent]] = {i: [] for i in range(4)}
    refs: list[EnvRef] = []

    def click(i: int) -> None:
        refs.append(backend.ensure_env(spec, eid, logs[i].append))

    threads = [threading.Thread(target=click, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    created.append(f"publish-env:{eid}")
    assert len(refs) == 4 and len({r.location for r in refs}) == 1
    assert backend.flights.builds_started - before == 1, "four requests, one build"
    for events in logs.values():  # every waiter saw the build's log and its end
        assert any("tabulate" in e.message for e in events)
        assert events[-1].phase == "built"
    # content edits keep the env id: the image is reused, nothing is built
    (tmp_path / "posts/p/index.md").write_text("new words")
    (tmp_path / "posts/p/data.csv").write_text("1,2\n")
    assert spec_and_id(tmp_path)[1] == eid
    backend.ensure_env(spec, eid)
    assert backend.flights.builds_started - before == 1


DOCKERFILE = """\
ARG PUBLISH_RUNTIME_IMAGE
FROM ${PUBLISH_RUNTIME_IMAGE}
RUN echo "made by a Dockerfile" > /home/reader/dockerfile.txt
"""

# a kernel named "wild" of the language "wildlang", installed where Jupyter finds the
# reader's kernels (it is ipykernel underneath: the point is how it is found)
OTHER_KERNEL = """\
#!/bin/bash
set -e
mkdir -p ~/.local/share/jupyter/kernels/wild
cat > ~/.local/share/jupyter/kernels/wild/kernel.json <<'JSON'
{"argv": ["/opt/publish/env/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
 "display_name": "Wild", "language": "wildlang", "env": {"PUBLISH_KERNEL": "wild"}}
JSON
"""


def test_build_site_in_images(make_site: SiteFactory) -> None:
    probe = ("import socket\ntry:\n    socket.create_connection(('pypi.org', 443), timeout=3)\n"
             "    print('network: yes')\nexcept OSError:\n    print('network: none')")
    root = make_site({
        "posts/a/index.ipynb": notebook(
            ("code", "import tabulate\nprint(tabulate.tabulate([[1, 2]], tablefmt='plain'))"),
            ("code", "print(open('data.txt').read())"), ("code", probe),
            front="title: A\ndate: 2024-01-01"),
        "posts/a/data.txt": "data beside the notebook",
        "posts/a/requirements.txt": "tabulate==0.9.0\n",
        "posts/d/index.md": md_post("D", "2024-02-01", """\
            # D
            ```{code-cell} python
            print(open('/home/reader/dockerfile.txt').read())
            ```
            """),
        "posts/d/Dockerfile": DOCKERFILE,
        "posts/u/index.md": md_post("U", "2024-03-01", "# U\n"),
        "posts/u/environment.yml": "dependencies: [numpy]\n",
        # a notebook of another language runs when its env provides that kernel
        "posts/k/index.ipynb": notebook(
            ("code", "import os\nprint('kernel:', os.environ.get('PUBLISH_KERNEL'))"),
            front="title: K\ndate: 2024-04-01",
            meta={"kernelspec": {"name": "wild", "display_name": "Wild", "language": "wildlang"},
                  "language_info": {"name": "wildlang"}}),
        "posts/k/postBuild": OTHER_KERNEL,
    })
    opts = BuildOptions(backend="docker", jobs=2)
    with pytest.raises(BuildFailed, match=r"posts/u/environment.yml: conda .* not supported yet"):
        build(root, opts, Reporter(quiet=True))
    (root / "posts/u/environment.yml").unlink()
    report = build(root, opts, Reporter(quiet=True))
    assert {e.post.slug: e.status for e in report.posts} == {
        "a": "executed", "d": "executed", "u": "executed", "k": "executed"}
    assert "kernel: wild" in (root / "_site/posts/k/index.html").read_text()
    page = (root / "_site/posts/a/index.html").read_text()
    assert "1  2" in page and "data beside the notebook" in page
    assert "network: none" in page, "execution containers have no network"
    assert "(docker backend)" in page
    assert "made by a Dockerfile" in (root / "_site/posts/d/index.html").read_text()
    report = build(root, opts, Reporter(quiet=True))
    assert {e.status for e in report.posts} == {"cached"}
    assert load_config(root).base_image == load_config_base()


def test_ctrl_c_ends_the_execution_containers_at_once(make_site: SiteFactory,
                                                      backend: DockerBackend) -> None:
    # no terminal signal reaches a container: the build ends its runs when interrupted
    root = make_site({f"posts/p{i}/index.ipynb": notebook(
        ("code", "import time\ntime.sleep(300)"), front=f"title: P{i}\ndate: 2024-01-0{i}")
        for i in (1, 2)})
    client = backend.client
    before = {c.id for c in client.containers.list(all=True)}
    runs: list[str] = []
    build = interruptible_build(root, "docker")
    try:
        deadline = time.monotonic() + 600
        while len(runs) < 2 and time.monotonic() < deadline:
            runs = [c.id for c in client.containers.list(
                filters={"label": "org.publish.role=execute", "status": "running"})
                if c.id not in before]
            time.sleep(0.2)
        assert len(runs) == 2, "both notebooks run at once"

        def kernels_started() -> bool:
            tops = [client.containers.get(ref).top()["Processes"] for ref in runs]
            return all(any("ipykernel" in " ".join(p) for p in top) for top in tops)

        wait_until(kernels_started, 120, interval=0.2, what="a kernel in each container")
        build.send_signal(signal.SIGINT)
        out, _ = build.communicate(timeout=30)
        left = {c.id for c in client.containers.list(all=True)} & set(runs)
    finally:
        build.kill()
        for ref in runs:  # what a failed run left
            with contextlib.suppress(Exception):
                client.containers.get(ref).remove(force=True)
    assert build.returncode != 0, out
    assert not left, "an execution container outlived its build"
    assert not (root / "_site").exists()
