"""Every patch in publisher.compat still does what it says, on the versions installed: the
version check, then one test per patch (a Sphinx application with ABlog where it takes
one)."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docutils import nodes
from packaging.requirements import Requirement
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging as sphinx_logging

from publisher.compat import ablog, bibtex, jsonschema, myst, myst_nb, patch
from publisher.compat import httpx as httpx_compat
from publisher.compat import pydata_sphinx_theme as pydata
from publisher.compat import sphinx as sphinx_compat
from publisher.compat import uvicorn as uvicorn_compat
from publisher.compat.versions import UnsupportedVersion, require

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"sphinx": sphinx_compat, "ablog": ablog, "myst-parser": myst, "myst-nb": myst_nb,
           "sphinxcontrib-bibtex": bibtex, "jsonschema": jsonschema,
           "pydata-sphinx-theme": pydata, "uvicorn": uvicorn_compat,
           "httpx": httpx_compat}


# -- the versions ---------------------------------------------------------------------

def test_require_names_the_library_the_version_found_and_the_range() -> None:
    assert require("sphinx", ">=9").startswith("9.")
    with pytest.raises(UnsupportedVersion) as raised:
        require("sphinx", ">=1,<2")
    message = str(raised.value)
    assert "sphinx" in message and require("sphinx", ">=0") in message and ">=1,<2" in message
    with pytest.raises(UnsupportedVersion, match="not installed"):
        require("publish-no-such-library", ">=1")


def test_each_patched_library_is_pinned_to_the_range_its_patches_were_written_for() -> None:
    pins = {Requirement(r).name.lower(): Requirement(r).specifier for r in tomllib.loads(
        (ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    for dist, module in MODULES.items():
        assert str(pins[dist]) == str(Requirement(f"{dist}{module.VERSIONS}").specifier), dist


def test_replace_patches_once_per_process() -> None:
    class Owner:
        def method(self) -> str:
            return "theirs"

    made: list[Any] = []

    def make(original: Any) -> Any:
        made.append(original)
        return lambda self: "ours, then " + original(self)

    patch.replace(Owner, "method", make)
    patch.replace(Owner, "method", make)
    assert Owner().method() == "ours, then theirs" and len(made) == 1
    assert patch.patched(Owner, "method")


# -- jsonschema ---------------------------------------------------------------------------

def test_the_slow_module_is_hidden_and_jsonschema_still_checks_formats() -> None:
    script = ("import sys\n"
              "from publisher.compat.jsonschema import hide_slow_module\n"
              "hide_slow_module()  # what every command does first (cli.main)\n"
              "import jsonschema\n"
              f"assert sys.modules[{jsonschema.SLOW_MODULE!r}] is None\n"
              "checker = jsonschema.FormatChecker()\n"
              "assert checker.conforms('2026-01-01', 'date')\n"
              "jsonschema.validate({'a': 1}, {'properties': {'a': {'type': 'integer'}}})\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr


# -- Sphinx and ABlog, on a small blog ----------------------------------------------------------

POST = """\
.. post:: {date}
   :tags: notes

{title}
{underline}

Words of {title}.
"""


def _write_blog(src: Path, titles: list[str]) -> None:
    src.mkdir(parents=True, exist_ok=True)
    (src / "conf.py").write_text('extensions = ["ablog"]\nblog_baseurl = "https://b.org/"\n'
                                 'project = "Blog"\nexclude_patterns = ["_build"]\n')
    (src / "index.rst").write_text("Blog\n====\n\n.. postlist::\n")
    for day, title in enumerate(titles, start=1):
        (src / f"{title.lower()}.rst").write_text(POST.format(
            date=f"2026-01-{day:02d}", title=title, underline="=" * len(title)))


def _app(src: Path) -> Sphinx:
    return Sphinx(str(src), str(src), str(src / "_build" / "html"),
                  str(src / "_build" / "doctrees"), "html", status=None,
                  warning=io.StringIO())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sphinx]:
    src = tmp_path_factory.mktemp("blog")
    _write_blog(src, ["First", "Second"])
    ablog.forget_posts()
    app = _app(src)
    app.build()
    yield app
    ablog.forget_posts()


@pytest.mark.slow
def test_forget_posts_lets_a_second_build_in_one_process_see_new_posts(tmp_path: Path) -> None:
    from ablog.blog import Blog

    _write_blog(tmp_path, ["First", "Second"])
    ablog.forget_posts()
    _app(tmp_path).build()
    _write_blog(tmp_path, ["First", "Second", "Third"])
    stale = _app(tmp_path)
    stale.build()
    assert len(Blog(stale).posts) == 2  # ABlog keeps its posts per process: the patch's why
    fresh = _app(tmp_path)
    fresh.connect("env-before-read-docs", lambda *_: ablog.forget_posts())
    fresh.build()
    assert sorted(p.title for p in Blog(fresh).posts) == ["First", "Second", "Third"]
    ablog.forget_posts()


@pytest.mark.slow
def test_forget_loaded_doctrees_makes_the_environment_load_them_again(built: Sphinx) -> None:
    env = built.env
    first = env.get_doctree("first")
    assert env.master_doctree is not None
    assert "master_doctree" in vars(env)
    sphinx_compat.forget_loaded_doctrees(env)
    assert "master_doctree" not in vars(env)
    assert env.get_doctree("first") is not first  # loaded from disk again, not the cache's
    sphinx_compat.forget_loaded_doctrees(env)
    assert not vars(env)["_pickled_doctree_cache"]


@pytest.mark.slow
def test_asset_lists_are_the_registry_and_the_builder_lists(built: Sphinx) -> None:
    lists = sphinx_compat.asset_lists(built)
    assert lists[0] is built.registry.js_files and lists[1] is built.registry.css_files
    builder_lists = vars(built.builder)
    assert any(lst is builder_lists["_js_files"] for lst in lists)
    assert any(lst is builder_lists["_css_files"] for lst in lists)


@pytest.mark.slow
def test_replace_listener_calls_the_replacement_in_its_place(built: Sphinx) -> None:
    called: list[str] = []

    def theirs(app: Sphinx) -> None:
        called.append("theirs")

    built.add_event("publish-compat-test")
    built.connect("publish-compat-test", theirs)
    assert sphinx_compat.replace_listener(built, "publish-compat-test", theirs,
                                          lambda app: called.append("ours"))
    built.emit("publish-compat-test")
    assert called == ["ours"]
    # ABlog's own handlers are the ones publish replaces
    handlers = {listener.handler for listener in built.events.listeners["html-collect-pages"]}
    assert ablog.LISTINGS in handlers and ablog.FEEDS in handlers


@pytest.mark.slow
def test_warning_count_counts_the_application_warnings(built: Sphinx) -> None:
    before = sphinx_compat.warning_count(built)
    with sphinx_logging.pending_warnings():
        sphinx_logging.getLogger(__name__).warning("a warning of the test")
    assert sphinx_compat.warning_count(built) == before + 1


@pytest.mark.slow
def test_wrap_static_copy_goes_through_the_wrapper(built: Sphinx) -> None:
    calls: list[str] = []

    def make(original: Any) -> Any:
        def copy() -> None:
            calls.append("wrapper")
            original()
        return copy

    sphinx_compat.wrap_static_copy(built, make)
    getattr(built.builder, "copy_static_files")()  # noqa: B009 (the HTML builder's)
    assert calls == ["wrapper"]
    assert (Path(built.outdir) / "_static" / "basic.css").is_file()


@pytest.mark.slow
def test_relfn2path_is_publish_s_and_keeps_sphinx_s_answer_outside_a_document(
        built: Sphinx) -> None:
    from publisher.pipeline import reads

    reads.setup(_app(Path(built.srcdir)))
    assert patch.patched(BuildEnvironment, "relfn2path")
    rel, path = built.env.relfn2path("/images/a.png", "")
    assert rel == "images/a.png" and path == str(Path(built.srcdir) / "images" / "a.png")


@pytest.mark.slow
def test_feed_entry_html_is_kept_while_the_post_was_not_read_again(built: Sphinx) -> None:
    """publish's feeds keep ABlog's HTML of an entry per application (no patch of
    ABlog's Post.to_html)."""
    from publisher.pipeline.feeds import entry_html
    from publisher.pipeline.listing import blog_of

    ablog.forget_posts()
    post = next(iter(blog_of(built).posts))
    made = entry_html(built, post, "blog", False)
    assert made == post.to_html("blog", img_url=True) and "Words of" in made
    memo = vars(built)["publish_excerpts"]
    key = next(iter(memo))
    memo[key] = (memo[key][0], "kept")
    assert entry_html(built, post, "blog", False) == "kept"  # from the memo
    post.excerpt = [node.deepcopy() for node in post.excerpt]  # as if read again
    assert entry_html(built, post, "blog", False) == made


# -- MyST, MyST-NB, sphinxcontrib-bibtex ------------------------------------------------------

def _myst_doctree(text: str, **settings: Any) -> Any:
    from docutils.core import publish_doctree
    from myst_parser.parsers.docutils_ import Parser

    return publish_doctree(text, parser=Parser(),
                           settings_overrides={"report_level": 5, "halt_level": 5,
                                               **settings})


def test_myst_renderer_keeps_an_unknown_directive_s_content_and_role_s_text() -> None:
    from myst_parser.mdit_to_docutils.base import DocutilsRenderer

    from publisher.pipeline import sphinx_book

    myst.wrap_run_directive(sphinx_book._content_kept)
    myst.wrap_render_role(sphinx_book._text_kept)
    assert patch.patched(DocutilsRenderer, "run_directive")
    tree = _myst_doctree("```{nosuch} arg\nKept *words*.\n```\n\nA {nosuchrole}`literal`.\n")
    boxes = [n for n in tree.findall(nodes.Element)
             if "publish-unknown-directive" in n.get("classes", [])]
    assert boxes and "Kept words." in boxes[0].astext()
    roles = [n for n in tree.findall(nodes.Element)
             if "publish-unknown-role" in n.get("classes", [])]
    assert roles and roles[0].astext() == "literal"


def test_myst_include_and_myst_nb_load_are_wrapped() -> None:
    from myst_nb.core import read
    from myst_parser import mocking

    from publisher.content import loads
    from publisher.pipeline import reads

    reads._install()
    assert patch.patched(mocking.MockIncludeDirective, "run")
    assert patch.patched(read, "_load_code_from_file")
    loads.install()
    with pytest.raises(Exception, match="publish loads no file from here") as raised:
        read._load_code_from_file(Path("doc.md"), "x.py", None, [])
    assert type(raised.value).__name__ == "_LoadFileParsingError"  # MyST-NB's own refusal


def test_bibtex_cite_role_and_bibliography_are_wrapped_for_the_whole_domain() -> None:
    from sphinxcontrib.bibtex.directives import BibliographyDirective
    from sphinxcontrib.bibtex.domain import BibtexDomain
    from sphinxcontrib.bibtex.roles import CiteRole

    from publisher.pipeline import sphinx_book

    bibtex.wrap_cite_role(sphinx_book._own_keys)
    bibtex.wrap_bibliography(sphinx_book._own_bibliography)
    assert patch.patched(CiteRole, "result_nodes")
    assert patch.patched(BibliographyDirective, "run")
    assert all(isinstance(r, CiteRole) for r in BibtexDomain.roles.values())


def test_the_pydata_theme_keeps_its_components_where_publish_looks() -> None:
    assert (Path(pydata.components_folder())).is_dir()


def test_the_pydata_themes_head_loses_its_fontawesome_script_and_nothing_else() -> None:
    macros = (pydata.THEME / "static" / "webpack-macros.html").read_text(encoding="utf-8")
    head = macros[macros.index("{% macro head_js_preload() %}"):]
    head = head[:head.index("{% endmacro %}")]
    head = re.sub(r"\{\{ pathto\('([^']*)', 1\) \}\}", r"../../\1", head)  # as rendered
    assert "fontawesome.js" in head  # what the filter removes is still there to remove
    kept = str(pydata.without_fontawesome_js(head))
    assert "fontawesome" not in kept
    assert kept.count("<link") == head.count("<link") >= 2  # bootstrap's, the theme's
    css = (pydata.THEME / "static" / "styles" / "pydata-sphinx-theme.css").read_text(
        encoding="utf-8")
    assert "fa-solid-900.woff2" in css and ".fa-magnifying-glass" in css  # the web font


def test_myst_substitutions_render_in_publish_s_sandbox() -> None:
    from myst_parser.mdit_to_docutils import base

    from publisher.pipeline import sandbox

    sandbox.install()
    assert vars(base)["jinja2"].Environment is sandbox.SubstitutionSandbox
    tree = _myst_doctree("Hello {{ who }}.\n", myst_enable_extensions=["substitution"],
                         myst_substitutions={"who": "world"})
    assert "Hello world." in tree.astext()


# -- httpx -------------------------------------------------------------------------------

def test_an_httpx_transport_sends_its_requests_through_the_pool_it_was_given(
        tmp_path: Path) -> None:
    """The pool put into the transport is the one a request goes through: a request over
    a pool whose every connection is refused fails with that pool's error."""
    import anyio
    import httpcore
    import httpx

    class Refusing(httpcore.AnyIOBackend):
        async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                      socket_options: object = None
                                      ) -> httpcore.AsyncNetworkStream:
            raise httpcore.ConnectError(f"refused by the pool's backend: {path}")

    pool = httpcore.AsyncConnectionPool(uds=str(tmp_path / "s"), network_backend=Refusing())
    transport = httpx_compat.transport_over(pool, str(tmp_path / "s"))
    assert httpx_compat.pool_of(transport) is pool

    async def ask() -> str:
        async with httpx.AsyncClient(transport=transport) as client:
            try:
                await client.get("http://session/api/status")
            except httpx.ConnectError as exc:
                return str(exc)
        return "answered"

    assert "refused by the pool's backend" in anyio.run(ask)
