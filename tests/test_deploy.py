"""deploy/ as shipped: the real nginx with deploy/nginx-publish.conf, TLS, in front of a real
launcher on the docker backend; and the systemd unit's settings.

Only the placeholders of the nginx site are substituted (ports, certificate paths, the
blog's folder, the upstream port), so a change to the shipped file is what is tested.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from publisher.pipeline.pipeline import BuildOptions, build
from publisher.progress import Reporter
from tests.conftest import CONFIG, md_post, write_files
from tests.helpers import (
    execute,
    free_port,
    launch,
    running_launcher,
    session_runtime,
    stop_process,
)

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SESSION_HOST = "abc123.example-live.org"
# Debian's libnginx-mod-http-brotli-static (not installed with nginx)
BROTLI_STATIC = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")
F = TypeVar("F", bound=Callable[..., object])


def live(test: F) -> F:
    """Needs Docker (the `front` fixture uses `docker_engine`) and takes a while."""
    marked: F = pytest.mark.docker(pytest.mark.slow(test))
    return marked


def _tool(name: str) -> str:
    """The path of a command, or skip (locally) / fail (CI) without it."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path:
        return path
    msg = f"{name} is not installed (scripts/provision.sh installs it)"
    if os.environ.get("PUBLISH_REQUIRE_DOCKER") == "1":
        pytest.fail(msg)
    pytest.skip(msg)


# --- the systemd unit ---------------------------------------------------------------------

def _unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(DEPLOY / "publish-launcher.service")
    return unit


def test_unit_runs_the_launcher_behind_the_proxy() -> None:
    svc = _unit()["Service"]
    assert svc["ExecStart"].split()[1:] == [
        "launcher", "/srv/blog", "--host", "127.0.0.1", "--port", "8080",
        "--base-url", "/live/", "--forwarded-allow-ips", "127.0.0.1"]
    assert svc["User"] == "root" and svc["Restart"] == "on-failure"
    assert svc["EnvironmentFile"] == "/etc/publish/launcher.env"
    assert svc["NoNewPrivileges"] == "yes" and svc["ProtectHome"] == "yes"
    assert "PrivateTmp" not in svc, "a private /tmp hides what containers write to host folders"
    lines = (DEPLOY / "publish-launcher.service").read_text().splitlines()
    env = dict(line.removeprefix("Environment=").split("=", 1) for line in lines
               if line.startswith("Environment="))
    for var in ("PUBLISH_RUNTIME_DIR", "PUBLISH_CACHE_DIR"):
        assert env[var].startswith("/var/lib/publish/"), "not under /tmp, /root or /home"
    nginx = (DEPLOY / "nginx-publish.conf").read_text()
    assert "server 127.0.0.1:8080;" in nginx and "location /live/ {" in nginx


def test_unit_file_is_valid_for_systemd(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (DEPLOY / "publish-launcher.service").read_text()
    assert "/opt/publish/bin/publish " in text
    unit = tmp_path / "publish-launcher.service"  # verify wants ExecStart to exist
    unit.write_text(text.replace("/opt/publish/bin/publish ", f"{shutil.which('true')} "))
    # verify wants the units it Requires= to exist: a stand-in docker.service, so that the
    # check does not depend on Docker being installed on this machine
    units = tmp_path / "units"
    units.mkdir()
    (units / "docker.service").write_text("[Unit]\nDescription=stand-in\n[Service]\n"
                                          f"ExecStart={shutil.which('true')}\n")
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"})
    problems = [line for line in (r.stdout + r.stderr).splitlines() if unit.name in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr


# --- nginx + launcher ---------------------------------------------------------------------

@dataclass
class Front:
    https: str  # https://127.0.0.1:<port>/
    http: str
    ca: ssl.SSLContext
    blog: Path  # the output of `publish build` nginx serves


def make_cert(folder: Path) -> None:
    folder.mkdir(parents=True)
    subprocess.run(
        [_tool("openssl"), "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem"),
         "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.example-live.org"],
        check=True, capture_output=True, timeout=60)


def site_config(http_port: int, https_port: int, upstream_port: int, certs: Path,
                blog: Path, acme: Path) -> str:
    """deploy/nginx-publish.conf with its placeholders replaced and the commented
    per-session server block enabled."""
    text = (DEPLOY / "nginx-publish.conf").read_text()
    head, marker, tail = text.partition("\n# server {\n")
    assert marker, "the commented per-session server block is missing"
    text = head + "\n" + "\n".join(
        line[2:] if line.startswith("# ") else line.lstrip("#")
        for line in (marker.strip() + "\n" + tail).splitlines())
    for old, new in [
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("/etc/letsencrypt/live/example.org/", f"{certs}/"),
        ("/etc/letsencrypt/live/example-live.org/", f"{certs}/"),
        ("root /srv/blog/_site;", f"root {blog};"),
        ("root /var/www/html;", f"root {acme};"),
        # as the file says to do once the module is installed
        *([("# brotli_static on;", "brotli_static on;")] if BROTLI_STATIC.is_file() else []),
    ]:
        assert old in text, f"placeholder {old!r} is gone from deploy/nginx-publish.conf"
        text = text.replace(old, new)
    return text


def main_config(prefix: Path) -> str:
    """An nginx.conf like Debian's, everything in *prefix*, including the site."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers read tmp_path (0700)
    temps = "".join(f"    {kind}_temp_path {prefix}/{kind};\n"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    brotli = f"load_module {BROTLI_STATIC};\n" if BROTLI_STATIC.is_file() else ""
    return (f"{brotli}{user}worker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log info;\nevents {{ worker_connections 256; }}\n"
            "http {\n    types { text/html html; text/css css; application/javascript js; }\n"
            "    default_type application/octet-stream;\n"
            f"    access_log {prefix}/access.log;\n{temps}"
            f"    include {prefix}/site.conf;\n}}\n")


@contextmanager
def running_nginx(prefix: Path, site_conf: str, http_port: int) -> Iterator[None]:
    """nginx in the foreground with *site_conf*; stopped by PID."""
    nginx = _tool("nginx")
    prefix.mkdir(parents=True, exist_ok=True)
    (prefix / "site.conf").write_text(site_conf)
    (prefix / "nginx.conf").write_text(main_config(prefix))
    args = [nginx, "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf"),
            "-e", str(prefix / "error.log")]
    check = subprocess.run([*args, "-t"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, f"nginx -t refused the config:\n{check.stderr}\n{site_conf}"
    log = open(prefix / "stderr.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([*args, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {proc.returncode}: "
                                   f"{(prefix / 'error.log').read_text()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{http_port}/", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield
    finally:
        stop_process(proc)  # SIGTERM: fast shutdown; the workers go with the master
        log.close()


@pytest.fixture(scope="module")
def runtime_dir() -> Iterator[Path]:
    with session_runtime("pd-") as path:
        yield path


@pytest.fixture(scope="module")
def front(tmp_path_factory: pytest.TempPathFactory, docker_engine: None,
          runtime_dir: Path) -> Iterator[Front]:
    """nginx (TLS, deploy/nginx-publish.conf) -> `publish launcher --base-url /live/`."""
    tmp = tmp_path_factory.mktemp("deploy")
    site = tmp / "site"
    write_files(site, {
        "publish.toml": CONFIG + '\n[launch]\nurl = "/live"\n',
        "posts/hello/index.md": md_post("Hello", "2024-01-01", """\
            # Hello
            ```{code-cell} python
            print("hello from the post")
            ```
            """),
    })
    # the blog nginx serves: the site built for real (its stored outputs: nothing runs)
    blog = tmp / "blog"
    assert build(site, BuildOptions(out=blog, execute="off"), Reporter(quiet=True)).ok
    acme = tmp / "acme"
    write_files(acme, {".well-known/acme-challenge/tok": "acme-ok"})
    make_cert(tmp / "certs")
    ca = ssl.create_default_context(cafile=str(tmp / "certs/fullchain.pem"))
    http_port, https_port, launcher_port = free_port(), free_port(), free_port()
    conf = site_config(http_port, https_port, launcher_port, tmp / "certs", blog, acme)
    with running_launcher(site, runtime_dir, "--backend", "docker", "--base-url", "/live/",
                          "--forwarded-allow-ips", "127.0.0.1", port=launcher_port), \
            running_nginx(tmp / "nginx", conf, http_port):
        yield Front(f"https://127.0.0.1:{https_port}/", f"http://127.0.0.1:{http_port}/", ca,
                    blog)


@live
def test_static_blog_and_health_over_https(front: Front) -> None:
    with httpx.Client(verify=front.ca) as c:
        assert "<title>" in c.get(front.https).text
        r = c.get(front.https + "posts/hello/")
        assert r.status_code == 200 and "hello from the post" in r.text
        assert "max-age=" in r.headers["strict-transport-security"]
        health = c.get(front.https + "live/health")
        assert health.status_code == 200 and health.json()["backend"] == "docker"
        assert c.get(front.https + "live/nope").status_code == 404
        assert c.get(front.https + "nope.html").status_code == 404


@live
def test_launch_and_run_code_through_tls(front: Front) -> None:
    events = launch(front.https + "live/", "hello", ssl_context=front.ca)
    ev = events[-1]
    assert ev["phase"] == "ready", events
    # the launcher sees https and nginx's host:port (X-Forwarded-Proto/Host from 127.0.0.1)
    assert ev["url"].startswith(front.https + "live/sessions/"), ev["url"]
    assert execute(ev["url"], ev["token"], "print(6*7)", ssl_context=front.ca) == "42\n"
    with httpx.Client(verify=front.ca) as c:
        lab = c.get(ev["url"] + "lab/tree/index.ipynb", params={"token": ev["token"]})
        assert lab.status_code == 200 and "JupyterLab" in lab.text
        sid = ev["url"].rstrip("/").rsplit("/", 1)[1]
        cookie = next(h for h in lab.headers.get_list("set-cookie")
                      if h.startswith(f"publish-session-{sid}="))
        assert f"path=/live/sessions/{sid}/" in cookie.lower(), cookie
        page = c.get(front.https + "live/launch/hello")
        assert page.status_code == 200
        assert f"{front.https}live/build/post/hello" in page.text, "events URL is https"


@live
def test_plain_http_redirects_to_https(front: Front) -> None:
    r = httpx.get(front.http + "live/health?x=1", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == "https://127.0.0.1/live/health?x=1"  # port 443 in production
    assert httpx.get(front.http + ".well-known/acme-challenge/tok").text == "acme-ok"


@live
def test_per_session_host_block_sends_everything_to_the_launcher(front: Front) -> None:
    with httpx.Client(verify=front.ca, headers={"Host": SESSION_HOST}) as c:
        health = c.get(front.https + "live/health")
        assert health.status_code == 200 and health.json()["backend"] == "docker"
        assert c.get(front.https).status_code == 404, "the blog is not served on session hosts"


def _assets(page: str) -> list[str]:
    """The addresses of the stylesheets and scripts a page names (relative to the page)."""
    return re.findall(r'(?:href|src)="([^"]+\.(?:css|js)(?:\?[^"]*)?)"', page)


@live
def test_compressed_siblings_cache_policy_and_http2(front: Front) -> None:
    page_url = front.https + "posts/hello/"
    with httpx.Client(verify=front.ca, http2=True) as c:
        page = c.get(page_url)
        assert page.http_version == "HTTP/2"
        assert page.headers["cache-control"] == "no-cache", "pages are asked again"
        assert "max-age=" in page.headers["strict-transport-security"]
        assets = _assets(page.text)
        hashed = [a for a in assets if re.search(r"\?(v|digest)=[0-9a-f]{8,}", a)]

        def local(asset: str) -> Path:
            return front.blog / httpx.URL(page_url).join(asset).path.lstrip("/")

        # the largest of each (a small file has no sibling)
        css = max((a for a in hashed if ".css?" in a), key=lambda a: local(a).stat().st_size)
        js = max((a for a in hashed if ".js?" in a), key=lambda a: local(a).stat().st_size)
        plain = next(a for a in assets if a.endswith(".js") and "?" not in a)
        for asset in (css, js):
            url = httpx.URL(page_url).join(asset)
            sibling = local(asset).with_name(local(asset).name + ".gz")
            assert sibling.is_file(), f"publish build wrote no {sibling.name}"
            with c.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as r:
                raw = b"".join(r.iter_raw())
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            assert raw == sibling.read_bytes(), "not the sibling publish build wrote"
            assert "accept-encoding" in r.headers["vary"].lower()
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
            assert "max-age=" in r.headers["strict-transport-security"]
            if BROTLI_STATIC.is_file():
                with c.stream("GET", url, headers={"Accept-Encoding": "br, gzip"}) as r:
                    raw = b"".join(r.iter_raw())
                assert r.headers["content-encoding"] == "br"
                assert raw == sibling.with_suffix(".br").read_bytes()
            # a client that takes no compression gets the file itself
            same = c.get(url, headers={"Accept-Encoding": "identity"})
            assert "content-encoding" not in same.headers
            assert same.content == sibling.with_suffix("").read_bytes()
        unversioned = c.get(httpx.URL(page_url).join(plain))
        assert unversioned.headers["cache-control"] == "public, max-age=3600"
    # the launcher's answers keep their own headers
    health = httpx.get(front.https + "live/health", verify=front.ca)
    assert "immutable" not in health.headers.get("cache-control", "")
