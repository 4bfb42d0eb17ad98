"""thebe (the live-code library of Jupyter Book and sphinx-thebe), served from the site
itself: fetched once by name and version from the npm registry, its integrity checked,
unpacked into the cache and copied into every output. No Node at build time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import ssl
import tarfile
from pathlib import Path, PurePosixPath

from publisher.config import Config
from publisher.errors import PublishError
from publisher.paths import ca_bundle, cache_root

VERSION = "0.9.3"
# dist.integrity of thebe@0.9.3 in the npm registry: the tarball must be these bytes
INTEGRITY = "sha512-Rb/7kVhtlffXra3kIe7OuIGE7awsm2/fGWxw21DiNfnWLnUQiDl9AWqYdshPwZPG/5DzLpsJRPix2xtCPtJmQQ=="
TARBALL = f"https://registry.npmjs.org/thebe/-/thebe-{VERSION}.tgz"
OUT_DIR = f"_publish/thebe/{VERSION}"  # where the output holds it
MAX_BYTES = 64 * 1024 * 1024


def _context() -> ssl.SSLContext:
    """The system's CAs, or the bundle the host names (proxies that intercept TLS)."""
    bundle = ca_bundle()
    return ssl.create_default_context(cafile=str(bundle) if bundle else None)


def _download(url: str) -> bytes:
    import httpx

    with httpx.stream("GET", url, timeout=60, verify=_context(),
                      follow_redirects=True) as r:
        r.raise_for_status()
        buf = io.BytesIO()
        for chunk in r.iter_bytes():
            buf.write(chunk)
            if buf.tell() > MAX_BYTES:
                raise PublishError(f"{url}: larger than {MAX_BYTES} bytes")
        return buf.getvalue()


def _check(data: bytes) -> None:
    algo, _, want = INTEGRITY.partition("-")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise PublishError(f"{TARBALL}: the download does not match thebe {VERSION}'s "
                           "published integrity; not used.")


def _unpack(data: bytes, dest: Path) -> None:
    """package/lib/** of the tarball into *dest*: regular files only, no path leaves it."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            path = PurePosixPath(member.name)
            if not member.isfile() or path.parts[:2] != ("package", "lib") or ".." in path.parts:
                continue
            target = dest.joinpath(*path.parts[2:])
            target.parent.mkdir(parents=True, exist_ok=True)
            fh = tar.extractfile(member)
            if fh is not None:
                target.write_bytes(fh.read())


def thebe_lib() -> Path:
    """thebe's ``lib/`` folder in the cache, fetched on first use; raises PublishError."""
    root = cache_root() / "npm" / f"thebe-{VERSION}"
    lib = root / "lib"
    if (root / ".complete").is_file():
        return lib
    try:
        data = _download(TARBALL)
    except Exception as exc:  # network, TLS, HTTP status
        raise PublishError(f"could not fetch thebe {VERSION} from {TARBALL}: {exc}") from exc
    _check(data)
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _unpack(data, tmp / "lib")
        if not (tmp / "lib" / "index.js").is_file():
            raise PublishError(f"{TARBALL}: no lib/index.js in the package")
        (tmp / ".complete").write_text(VERSION)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    except OSError as exc:
        if not (root / ".complete").is_file():  # else another build won the race: use it
            raise PublishError(f"could not unpack thebe {VERSION} into {root}: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return lib


def copy_into(lib: Path, out: Path) -> None:
    """thebe's files into the output (copies: what is done to the output never reaches the
    cache that later builds use)."""
    dest = out / OUT_DIR
    for src in lib.rglob("*"):
        if src.is_file() and src.suffix != ".map":  # source maps: 6 MB nobody loads
            target = dest / src.relative_to(lib)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)


def thebe_url(config: Config, from_page: str) -> str:
    """Where a page finds thebe's folder (ends in '/'), or "" when live code is off.

    *from_page*: the page's way back to the site root, e.g. ``../../``."""
    mode = config.interactive.thebe
    if mode == "cdn":
        return config.interactive.cdn_url.format(version=VERSION).rstrip("/") + "/"
    if mode == "site":
        return f"{from_page}{OUT_DIR}/"
    return ""
