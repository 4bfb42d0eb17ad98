"""Render Dockerfiles for the shared runtime image and for each env image (pure).

Layering: ``publish-runtime`` = base image + user ``reader`` (uid 1000) + a venv at
``/opt/publish/runtime`` with Jupyter Server, JupyterLab, ipykernel, nbclient and uv.
Each env image starts ``FROM`` it and adds a second venv at ``/opt/publish/env`` holding
only the post's packages; a ``.pth`` file chains the runtime's site-packages behind it,
so the kernel sees the post's packages first and the server keeps its own versions.

The runtime drops the package whose import is slow (see :mod:`publisher.envs.recipe`);
jsonschema then skips the two IRI formats it served.

Build-time settings (CA bundle, index URL) are copied into the *build stage only* and
used there; the final stage copies the finished venv, so they are in no layer of the
image that readers get.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from publisher.compat.jsonschema import SLOW_PACKAGE
from publisher.envs.recipe import USER_LAYER_FILES, kernel_spec
from publisher.envs.spec import EnvSpec
from publisher.hashing import digest
from publisher.layout import READER_HOME, READER_WORK

RUNTIME_PACKAGES = (
    "jupyter-server>=2.14,<3",
    "jupyterlab>=4.2,<5",
    "ipykernel>=6.29,<8",
    "nbclient>=0.10,<0.12",
    "nbformat>=5.10,<6",
)
RUNTIME = "/opt/publish/runtime"
LAB_STATIC = f"{RUNTIME}/share/jupyter/lab/static"  # JupyterLab's static files
START = "/opt/publish/start"  # the env's `start` (repo2docker), when it has one
ENTRYPOINT = "/opt/publish/entrypoint"
HOME_COPY = "/opt/publish/home"  # the image's $HOME, for sessions whose $HOME is a tmpfs
ENV = "/opt/publish/env"
BUILD_DIR = "/tmp/publish-build"  # build stage only: ca.pem, env.sh
SPEC_DIR = "/tmp/publish-spec"
# a session's first kernel starts with its container and is adopted by Jupyter through
# this kernel provisioner (templates/runtime/publish_prestart.py, in the runtime's Python)
PRESTART = "publish-prestarted"
PRESTART_SOURCE = Path(__file__).resolve().parent.parent / "templates/runtime/publish_prestart.py"
PRESTART_DIR = "/tmp/publish-kernel"  # in the session's /tmp (a tmpfs of its own)
_SPEC = kernel_spec(f"{ENV}/bin/python")
_ARGV, _METADATA = _SPEC["argv"], _SPEC["metadata"]
assert isinstance(_ARGV, list) and isinstance(_METADATA, dict)
KERNEL_ARGV = [str(a) for a in _ARGV]  # the env kernel's command line
KERNEL = {**_SPEC, "metadata": {**_METADATA, "kernel_provisioner": {"provisioner_name": PRESTART}}}
# `. env.sh` exports PIP_CERT/SSL_CERT_FILE/index URLs of the host, when it has them
SOURCE_BUILD_ENV = f". {BUILD_DIR}/env.sh"


# JupyterLab settings for every session: no news or update pop-ups for readers
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "checkForUpdates": False, "doNotDisturbMode": False, "fetchNews": "false"},
}


@functools.cache  # read once: every runtime tag and env id is made of it
def prestart_files() -> dict[str, str]:
    """The kernel provisioner as an installed distribution (its entry point names it):
    copied into the runtime's site-packages."""
    return {
        "publish_prestart.py": PRESTART_SOURCE.read_text(),
        "publish_prestart-1.dist-info/METADATA":
            "Metadata-Version: 2.1\nName: publish-prestart\nVersion: 1\n",
        "publish_prestart-1.dist-info/entry_points.txt":
            f"[jupyter_client.kernel_provisioners]\n{PRESTART} = "
            "publish_prestart:PrestartedProvisioner\n",
    }


# publish's JupyterLab extension (prebuilt, in the runtime's share/jupyter/labextensions)
LAB_EXTENSIONS = Path(__file__).resolve().parent.parent / "templates/runtime/labextension"


@functools.cache
def lab_extension_files() -> dict[str, str]:
    """publish's own JupyterLab extensions: path under labextensions/ -> text."""
    return {f.relative_to(LAB_EXTENSIONS).as_posix(): f.read_text()
            for f in sorted(LAB_EXTENSIONS.rglob("*")) if f.is_file()}


def runtime_dockerfile(base_image: str) -> str:
    packages = " ".join(f'"{p}"' for p in RUNTIME_PACKAGES)
    provisioner = digest([json.dumps(prestart_files(), sort_keys=True),
                          json.dumps(lab_extension_files(), sort_keys=True)])
    return f"""\
# publish runtime image: base + reader user + Jupyter (shared by every env image)
# kernel provisioner and lab extensions {provisioner}
FROM {base_image} AS build
COPY _publish_build/ {BUILD_DIR}/
RUN {SOURCE_BUILD_ENV} \\
 && python3 -m venv {RUNTIME} \\
 && {RUNTIME}/bin/python -m pip install --no-cache-dir --disable-pip-version-check -q uv \\
 && {RUNTIME}/bin/uv pip install --no-cache --python {RUNTIME}/bin/python --compile-bytecode \\
      {packages} \\
 && {RUNTIME}/bin/uv pip uninstall --python {RUNTIME}/bin/python {SLOW_PACKAGE} \\
 && cp -r {BUILD_DIR}/prestart/. {RUNTIME}/lib/python3*/site-packages/ \\
 && mkdir -p {RUNTIME}/share/jupyter/labextensions \\
 && cp -r {BUILD_DIR}/labextensions/. {RUNTIME}/share/jupyter/labextensions/ \\
 && mkdir -p {RUNTIME}/share/jupyter/lab/settings \\
 && printf '%s' '{json.dumps(LAB_OVERRIDES)}' > {RUNTIME}/share/jupyter/lab/settings/overrides.json

FROM {base_image}
RUN (id -u reader >/dev/null 2>&1 || useradd --create-home --uid 1000 --shell /bin/bash reader) \\
 && mkdir -p {READER_WORK} && chown -R reader:reader {READER_HOME}
COPY --from=build {RUNTIME} {RUNTIME}
# every command run in the image goes through the env's `start` script, as with
# repo2docker's entrypoint: what it exports, kernels, terminals and one-off commands all see
RUN printf '%s\\n' '#!/bin/sh' \\
      'if [ -x {START} ]; then exec {START} "$@"; fi' 'exec "$@"' > {ENTRYPOINT} \\
 && chmod 755 {ENTRYPOINT}
ENTRYPOINT ["{ENTRYPOINT}"]
ENV PATH={RUNTIME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8 \\
    PYTHONDONTWRITEBYTECODE=1
USER reader
WORKDIR {READER_WORK}
"""


def env_dockerfile(spec: EnvSpec, runtime_image: str, labels: dict[str, str]) -> str:
    """The Dockerfile of an env image (not for a Dockerfile spec, which is used as is)."""
    steps = [
        f"# publish env image ({spec.origin}: {', '.join(spec.files) or 'no env files'})",
        f"FROM {runtime_image} AS build",
        "USER root",
        f"COPY _publish_build/ {BUILD_DIR}/",
        f"COPY spec/ {SPEC_DIR}/",
        f"RUN {SOURCE_BUILD_ENV} \\",
        f" && {RUNTIME}/bin/uv venv --quiet --python {RUNTIME}/bin/python {ENV} \\",
        f" && {ENV}/bin/python -c \"import sysconfig,pathlib; pathlib.Path(sysconfig.get_path"
        f"('purelib'), 'publish-runtime.pth').write_text(sysconfig.get_path('purelib')"
        f".replace('{ENV}', '{RUNTIME}') + '\\\\n')\" \\",
        # the reader's own layer for `pip install` in a session (publisher.envs.recipe)
        f" && cp {' '.join(f'{BUILD_DIR}/{n}' for n in USER_LAYER_FILES)} "
        f"{ENV}/lib/python3*/site-packages/",
    ]
    installs = []
    if "requirements.txt" in spec.files:
        installs.append(f"-r {SPEC_DIR}/requirements.txt")
    if spec.package_dir is not None:
        installs.append(f"{SPEC_DIR}/")
    if installs:
        steps[-1] += " \\"
        steps.append(
            f" && cd {SPEC_DIR} && {RUNTIME}/bin/uv pip install --no-cache --python "
            f"{ENV}/bin/python --compile-bytecode {' '.join(installs)}"
        )
    steps += ["", f"FROM {runtime_image}", "USER root"]
    apt = spec.apt_packages()
    if apt:
        steps.append(
            "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            f"--no-install-recommends {' '.join(apt)} && rm -rf /var/lib/apt/lists/*"
        )
    kernel = json.dumps(KERNEL).replace("'", "'\\''")
    # the env belongs to the reader while the image is built (postBuild's `pip install`
    # adds to it, as in repo2docker); sessions run as another uid on a read-only root
    steps += [
        f"COPY --from=build --chown=reader:reader {ENV} {ENV}",
        f"RUN printf '%s\\n' '#!/bin/sh' 'exec {ENV}/bin/python -m pip \"$@\"' > {ENV}/bin/pip \\",
        f" && chmod 755 {ENV}/bin/pip && ln -s pip {ENV}/bin/pip3",
        f"RUN mkdir -p {ENV}/share/jupyter/kernels/python3 \\",
        f" && printf '%s' '{kernel}' > {ENV}/share/jupyter/kernels/python3/kernel.json",
        f"ENV PATH={ENV}/bin:{RUNTIME}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
        "/sbin:/bin \\",
        f"    JUPYTER_PATH={ENV}/share/jupyter \\",
        f"    VIRTUAL_ENV={ENV}",
    ]
    if "start" in spec.files:
        steps += [f"COPY spec/start {START}", f"RUN chmod 755 {START}"]
    steps += ["USER reader", f"WORKDIR {READER_WORK}"]
    if "postBuild" in spec.files:
        steps += [
            "COPY --chown=reader:reader spec/postBuild /tmp/publish-postBuild",
            f"RUN chmod +x /tmp/publish-postBuild && cd {READER_WORK} "
            "&& /tmp/publish-postBuild && rm -f /tmp/publish-postBuild",
        ]
    # sessions mount an empty tmpfs on $HOME (the root filesystem is read-only): keep what
    # the image put there (postBuild's dotfiles, the work folder) for them to copy back
    steps += ["USER root",
              f"RUN rm -rf {HOME_COPY} && cp -a {READER_HOME} {HOME_COPY}",
              "USER reader"]
    steps += [f"LABEL {k}={json.dumps(v)}" for k, v in sorted(labels.items())]
    return "\n".join(steps) + "\n"
