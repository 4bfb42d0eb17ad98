"""The docker backend's images: names, labels, Dockerfiles, build settings, and what is
read from an image (its envs for `publish env`, a folder copied out of it)."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from publisher.backends.base import EnvInfo
from publisher.envs.dockerfile import env_dockerfile, runtime_dockerfile
from publisher.envs.spec import BUILDER_VERSION, EnvSpec
from publisher.errors import EnvBuildError
from publisher.hashing import digest
from publisher.paths import CA_VARS, ca_bundle, files_under

LABEL = "org.publish"  # prefix of every Docker label publish sets

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # colours in build output: noise in a log view
ENV_REPO = "publish-env"
RUNTIME_REPO = "publish-runtime"
COPY_LABEL = "publish.lab-static"  # a container created to copy an image's folder from
# a file name a copied folder may hold: no folders, no dot files
FLAT_FILE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
INDEX_VARS = ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "UV_INDEX_URL", "UV_EXTRA_INDEX_URL",
              "UV_DEFAULT_INDEX")


def engine_error() -> str | None:
    """None when a Docker engine answers, else why not (one line)."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
    except Exception as exc:
        return f"no Docker engine answers ({str(exc).splitlines()[0][:200]})"
    return None


def host_build_settings(environ: dict[str, str] | None = None) -> tuple[bytes | None, str]:
    """(CA bundle bytes, env.sh text) from the host's TLS and index settings.

    Used in the build stage only: never in the final image's environment or layers.
    """
    environ = dict(os.environ if environ is None else environ)
    bundle = ca_bundle(environ)
    ca = bundle.read_bytes() if bundle is not None else None
    lines = ["# build-time settings from the host (build stage only)"]
    if ca is not None:
        for var in (*CA_VARS, "UV_NATIVE_TLS_CERT"):
            lines.append(f"export {var}=/tmp/publish-build/ca.pem")
    index = {v: environ[v] for v in INDEX_VARS if environ.get(v)}
    if "PIP_INDEX_URL" in index and "UV_INDEX_URL" not in index:
        index["UV_INDEX_URL"] = index["PIP_INDEX_URL"]
    for var, value in index.items():
        lines.append(f"export {var}='{value}'")
    return ca, "\n".join(lines) + "\n"


def runtime_tag(base: str) -> str:
    """The runtime image's tag: a hash of its Dockerfile, base and builder version."""
    return f"{RUNTIME_REPO}:{digest([BUILDER_VERSION, base, runtime_dockerfile(base)])}"


def env_labels(spec: EnvSpec, env_id: str) -> dict[str, str]:
    """The labels of an env's image: what `publish env list` and `prune` find it by."""
    return {
        f"{LABEL}.env_id": env_id,
        f"{LABEL}.builder_version": BUILDER_VERSION,
        f"{LABEL}.spec_files": json.dumps(list(spec.files)),
        f"{LABEL}.origin": spec.origin,
    }


def env_image_dockerfile(spec: EnvSpec, env_id: str, base: str) -> str:
    """The Dockerfile an env's image is built from (the build writes it, `publish env show`
    prints it): the author's own, or publish's FROM the runtime image of *base*."""
    if spec.dockerfile:
        return spec.read("Dockerfile")
    return env_dockerfile(spec, runtime_tag(base), env_labels(spec, env_id))


def copy_context(spec: EnvSpec, src: Path, dest: Path,
                  skip: Callable[[str], bool] = lambda _: False) -> None:
    """The files of *src* (an env's build context) into *dest*, through links that stay
    inside the site; a link out of it fails the build, naming it (its target would be in
    the image, and so in every session and execution of the env)."""
    for path in files_under(src, spec.site_root or src, skip, EnvBuildError):
        target = dest / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


LEFT_AFTER = 600.0  # seconds: a copy's container older than this was left behind


def _age(created: str) -> float:
    """Seconds since Docker's ``Created`` time (RFC 3339, nanoseconds); 0 when unreadable."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)", created)
    if m is None:
        return 0.0
    then = dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=dt.UTC)
    return (dt.datetime.now(dt.UTC) - then).total_seconds()


def copy_image_folder(client: Any, location: str, folder: str, cache: Path) -> Path | None:
    """The regular files directly in *folder* of the image *location*, copied once per
    image id under *cache* from a container created (never started) from the image: what
    a reader changes in a session never reaches it. None when the image has no *folder*."""
    import docker

    try:
        image_id = str(client.images.get(location).id).split(":")[-1][:24]
    except docker.errors.DockerException:
        return None
    dest = cache / image_id
    if (dest / ".complete").is_file():
        return dest
    # copies a stopped launcher left half done: their containers were never removed (not
    # one being copied from right now, by this launcher or another: those are young)
    for left in client.containers.list(all=True, filters={
            "label": COPY_LABEL, "status": "created"}):
        if _age(str(left.attrs.get("Created", ""))) > LEFT_AFTER:
            left.remove(force=True)
    container = client.containers.create(location, command=["true"], network_disabled=True,
                                         labels={COPY_LABEL: "1"})
    tmp = cache / f".{image_id}.tmp-{os.getpid()}"
    try:
        stream, _ = container.get_archive(folder)
        data = b"".join(stream)
    except docker.errors.NotFound:
        return None  # e.g. a Dockerfile env of the author's: no runtime of publish's
    finally:
        container.remove(force=True)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():  # the folder's own files: flat, regular
                parts = member.name.split("/")
                if member.isfile() and len(parts) == 2 and FLAT_FILE.fullmatch(parts[1]):
                    fh = tar.extractfile(member)
                    if fh is not None:
                        (tmp / parts[1]).write_bytes(fh.read())
        (tmp / ".complete").write_text(location)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # a half copy (renamed away when whole)
    return dest


def env_images(client: Any) -> list[EnvInfo]:
    """The env images on the engine (tagged ``publish-env:…``), by env id."""
    found = []
    for image in client.images.list(filters={"label": f"{LABEL}.env_id"}):
        tags = [t for t in image.tags if t.startswith(ENV_REPO + ":")]
        if tags:
            found.append(EnvInfo(image.labels[f"{LABEL}.env_id"], "docker", tags[0],
                                 int(image.attrs["Size"])))
    return sorted(found, key=lambda e: (e.env_id, e.location))
