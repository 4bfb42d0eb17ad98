"""Unit tests: Dockerfile rendering for each kind of env spec, build-time settings."""

from __future__ import annotations

from pathlib import Path

from publisher.backends.docker_images import host_build_settings
from publisher.envs.dockerfile import env_dockerfile, runtime_dockerfile
from publisher.envs.spec import find_env_spec
from tests.conftest import SiteFactory, write_files


def render(tmp_path: Path, files: dict[str, str]) -> str:
    write_files(tmp_path, {f"posts/p/{k}": v for k, v in files.items()})
    spec = find_env_spec(tmp_path, tmp_path / "posts/p")
    return env_dockerfile(spec, "publish-runtime:abc", {"org.publish.env_id": "e1"})


def test_runtime_has_reader_user_jupyter_and_uv() -> None:
    text = runtime_dockerfile("python:3.12-slim")
    assert text.count("FROM python:3.12-slim") == 2  # build stage + final stage
    assert "useradd --create-home --uid 1000" in text and "USER reader" in text
    for pkg in ("jupyter-server", "jupyterlab", "ipykernel", "nbclient", "uv"):
        assert pkg in text
    assert "--compile-bytecode" in text  # faster session start


def test_requirements(tmp_path: Path) -> None:
    text = render(tmp_path, {"requirements.txt": "numpy\n"})
    assert "FROM publish-runtime:abc AS build" in text
    assert "uv pip install" in text and "-r /tmp/publish-spec/requirements.txt" in text
    assert 'LABEL org.publish.env_id="e1"' in text
    final = text.split("\nFROM publish-runtime:abc\n")[1]
    assert "publish-build" not in final, "build-time settings must stay in the build stage"
    steps = [line for line in final.splitlines() if line and not line.startswith("LABEL")]
    assert steps[-3:] == ["USER root", "RUN rm -rf /opt/publish/home && cp -a /home/reader "
                          "/opt/publish/home", "USER reader"], \
        "the image's $HOME is kept for sessions (their $HOME is a tmpfs), then back to reader"
    assert "WORKDIR /home/reader/work" in steps


def test_apt_postbuild_start(tmp_path: Path) -> None:
    text = render(tmp_path, {"apt.txt": "# a comment\njq\n\ntree\n", "postBuild": "echo hi\n",
                             "start": "#!/bin/sh\nexec \"$@\"\n"})
    assert "apt-get install -y -qq --no-install-recommends jq tree" in text
    assert "uv pip install" not in text
    final = text.split("\nFROM publish-runtime:abc\n")[1]
    assert final.index("apt-get install") < final.index("USER reader") < final.index(
        "/tmp/publish-postBuild && rm"), "postBuild runs as the reader, after installs"
    assert "COPY spec/start /opt/publish/start" in final


def test_pyproject_installs_the_folder(tmp_path: Path) -> None:
    text = render(tmp_path, {"pyproject.toml": "[project]\nname='x'\n"})
    assert "--compile-bytecode /tmp/publish-spec/" in text


def test_no_env_files_still_gets_an_env(tmp_path: Path) -> None:
    (tmp_path / "posts/p").mkdir(parents=True)
    spec = find_env_spec(tmp_path, tmp_path / "posts/p")
    text = env_dockerfile(spec, "rt", {})
    assert "uv venv" in text and "uv pip install" not in text


def test_host_build_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    data, env_sh = host_build_settings({"PIP_CERT": str(ca), "PIP_INDEX_URL": "https://idx/simple"})
    assert data == ca.read_bytes()
    assert "export SSL_CERT_FILE=/tmp/publish-build/ca.pem" in env_sh
    assert "export UV_INDEX_URL='https://idx/simple'" in env_sh
    assert host_build_settings({}) == (None, host_build_settings({})[1])
    assert "export" not in host_build_settings({})[1]


def test_env_show_prints_the_dockerfile_the_build_writes(make_site: SiteFactory) -> None:
    """`publish env show` and the image build render one Dockerfile, labels and all."""
    from publisher.backends.commands import show
    from publisher.backends.docker_images import env_image_dockerfile
    from publisher.config import load_config
    from publisher.envs.resolve import spec_and_id
    from publisher.envs.spec import base_image_for

    root = make_site({"posts/a/index.md": "# A\n", "posts/a/requirements.txt": "six\n"})
    cfg = load_config(root)
    spec, eid = spec_and_id(cfg, root / "posts/a")
    built = env_image_dockerfile(spec, eid, base_image_for(spec, cfg.base_image,
                                                           cfg.launcher.base_images))
    printed = show(root, "a", "docker")  # what the docker backend builds
    assert printed.endswith("\n" + built)
    assert built.count("\nLABEL ") == 4 and f'org.publish.env_id="{eid}"' in built
