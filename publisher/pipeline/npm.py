"""Browser libraries served from the site itself (thebe, MathJax): fetched once by name
and version from the npm registry, their integrity checked, unpacked into the cache and
copied into every output. No Node and no CDN at reading time.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import ssl
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from publisher.errors import PublishError
from publisher.hashing import raw_digest
from publisher.layout import PUBLISHED
from publisher.paths import ca_bundle, cache_root

MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Package:
    """One npm package version, and the part of it a site serves."""

    name: str
    version: str
    integrity: str  # dist.integrity in the npm registry: the tarball must be these bytes
    folder: str  # the package's folder that is served, e.g. "lib" ("." its top folder)
    main: str  # a file that must be in it, e.g. "index.js"
    keep: tuple[str, ...] = ()  # prefixes (inside folder) to keep; empty: everything

    @property
    def tarball(self) -> str:
        # a scoped package's file is named without its scope (@bokeh/bokehjs: bokehjs-x.tgz)
        file = self.name.rsplit("/", 1)[-1]
        return f"https://registry.npmjs.org/{self.name}/-/{file}-{self.version}.tgz"

    @property
    def out_dir(self) -> str:
        """Where an output holds it."""
        return f"{PUBLISHED}/{self.name}/{self.version}"

    def kept(self, rel: PurePosixPath) -> bool:
        text = rel.as_posix()
        return not self.keep or any(text == k or text.startswith(k) for k in self.keep)


def _context() -> ssl.SSLContext:
    """The system's CAs, or the bundle the host names (proxies that intercept TLS)."""
    bundle = ca_bundle()
    return ssl.create_default_context(cafile=str(bundle) if bundle else None)


def download(url: str) -> bytes:
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


def published_integrity(name: str, version: str) -> str:
    """The integrity the npm registry publishes for *name* *version* (for a version named
    by a stored output rather than pinned here); raises PublishError."""
    import json

    url = f"https://registry.npmjs.org/{name}/{version}"
    try:
        found = json.loads(download(url)).get("dist", {}).get("integrity", "")
    except Exception as exc:  # network, TLS, HTTP status, not JSON
        raise PublishError(f"could not look up {name} {version} at {url}: {exc}") from exc
    if not isinstance(found, str) or "-" not in found:
        raise PublishError(f"{url}: no integrity for {name} {version}")
    return found


def check(pkg: Package, data: bytes) -> None:
    algo, _, want = pkg.integrity.partition("-")
    got = base64.b64encode(raw_digest(data, algo)).decode()
    if got != want:
        raise PublishError(f"{pkg.tarball}: the download does not match {pkg.name} "
                           f"{pkg.version}'s published integrity; not used.")


def unpack(pkg: Package, data: bytes, dest: Path) -> None:
    """package/<folder>/** of the tarball (what *pkg* keeps) into *dest*: regular files
    only, no path leaves it."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            path = PurePosixPath(member.name)
            top = ("package", *PurePosixPath(pkg.folder).parts)  # "." has no parts
            if not member.isfile() or path.parts[:len(top)] != top \
                    or ".." in path.parts or len(path.parts) <= len(top):
                continue
            rel = PurePosixPath(*path.parts[len(top):])
            if not pkg.kept(rel):
                continue
            target = dest.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            fh = tar.extractfile(member)
            if fh is not None:
                target.write_bytes(fh.read())


def fetch(pkg: Package) -> Path:
    """The package's served folder in the cache, fetched on first use; raises PublishError."""
    root = cache_root() / "npm" / f"{pkg.name}-{pkg.version}"
    lib = root / pkg.folder
    if (root / ".complete").is_file() and (lib / pkg.main).is_file():
        return lib  # (a cache of other files of the package is fetched again)
    try:
        data = download(pkg.tarball)
    except Exception as exc:  # network, TLS, HTTP status
        raise PublishError(f"could not fetch {pkg.name} {pkg.version} from {pkg.tarball}: "
                           f"{exc}") from exc
    check(pkg, data)
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        unpack(pkg, data, tmp / pkg.folder)
        if not (tmp / pkg.folder / pkg.main).is_file():
            raise PublishError(f"{pkg.tarball}: no {pkg.folder}/{pkg.main} in the package")
        (tmp / ".complete").write_text(pkg.version)
        shutil.rmtree(root, ignore_errors=True)
        tmp.rename(root)
    except OSError as exc:
        if not (root / ".complete").is_file():  # else another build won the race: use it
            raise PublishError(f"could not unpack {pkg.name} {pkg.version} into {root}: "
                               f"{exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return lib


Copy = Callable[[Path, Path], object]


def copy_into(pkg: Package, lib: Path, out: Path, copy: Copy = shutil.copy2) -> None:
    """The package's files into the output (copies, never links to the cache: what is done
    to the output never reaches the cache that later builds use). Source maps stay out:
    nobody loads them."""
    dest = out / pkg.out_dir
    for src in lib.rglob("*"):
        if src.is_file() and src.suffix != ".map":
            target = dest / src.relative_to(lib)
            target.parent.mkdir(parents=True, exist_ok=True)
            copy(src, target)
