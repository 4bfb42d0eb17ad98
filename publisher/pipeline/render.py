"""Stage 5: write a Sphinx project from the executed posts and render it.

The Sphinx source folder lives in the site's build dir and is only rewritten where
content changed, so Sphinx re-reads only the posts that changed (and ABlog's listings).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import json
import re
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import nbformat
from nbformat import NotebookNode

from publisher.binderhub import binder_build_url, binder_launch_url, post_path, provider_spec
from publisher.config import Config
from publisher.content.post import TEXT_KINDS, Post, notebook_json
from publisher.envs.spec import EnvSpec
from publisher.errors import BuildFailed, PublishError
from publisher.hashing import digest
from publisher.memo import Memo, stamp
from publisher.paths import link_problem
from publisher.pipeline.cells import attachments_to_files, raw_cells_for_sphinx
from publisher.pipeline.execute import Executed
from publisher.pipeline.extensions import bib_files, book_conf, book_notebook
from publisher.pipeline.listing import HOME_MARKER
from publisher.pipeline.mathjax import mathjax_path
from publisher.pipeline.reads import REFUSED, SITE_FILES, refusals, site_files
from publisher.pipeline.richoutputs import rich_outputs
from publisher.pipeline.sandbox import no_render_execution

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
H1 = re.compile(r"^#\s+.*$", re.M)


@dataclass
class RenderPost:
    executed: Executed
    spec: EnvSpec
    env_id: str
    backend: str
    thebe: str = ""  # where the page loads thebe from; "" = no live code on this page
    updated: str = ""  # when the post last changed in git (ISO date), if after its date

    @property
    def post(self) -> Post:
        return self.executed.post


# path -> (the file's stamp after we wrote it, what we wrote): a warm process does not
# read back what it wrote itself (1000 reads at 500 posts)
_WRITTEN: Memo[Path, str | bytes] = Memo()


def write_if_changed(path: Path, content: str | bytes) -> bool:
    if _WRITTEN.get(path, stamp(path)) == content:
        return False
    data = content.encode() if isinstance(content, str) else content
    changed = not (path.is_file() and path.read_bytes() == data)
    if changed:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _WRITTEN.put(path, stamp(path), content)
    return changed


def launch_url(config: Config, post: Post) -> str:
    base = config.launch.url.rstrip("/")
    return f"{base}/launch/{quote(post.slug)}?labpath={quote(post.notebook_name)}"


def colab_url(config: Config, post: Post) -> str:
    """Open the notebook in Colab: GitHub repositories only, notebooks only."""
    if not config.launch.repository or post.kind != "ipynb":
        return ""
    provider, spec = provider_spec(config.launch.repository, "")
    if provider != "gh":
        return ""
    prefix = config.launch.path_in_repository.strip("/")
    path = f"{prefix}/{post.rel_source}" if prefix else post.rel_source
    return (f"https://colab.research.google.com/github/{spec.rstrip('/')}/blob/"
            f"{quote(config.launch.branch)}/{quote(path)}")


WORDS_PER_MINUTE = 200
WORD = re.compile(r"[\w'’-]+")


def reading_minutes(post: Post) -> int:
    """Minutes to read the post's prose and code, at 200 words a minute."""
    words = sum(len(WORD.findall(c.source)) for c in post.notebook.cells
                if c.cell_type in ("markdown", "code"))
    return max(1, round(words / WORDS_PER_MINUTE))


def post_box_data(config: Config, rp: RenderPost) -> dict[str, Any]:
    post = rp.post
    mode = config.launch.mode
    downloads = [("notebook (.ipynb)", f"../../_publish/notebooks/{post.slug}/{post.notebook_name}")]
    if post.kind in TEXT_KINDS:
        downloads.append((f"source (.{post.kind})", f"../../_publish/sources/{post.slug}/{post.source.name}"))
    packages = [
        line.strip() for line in rp.spec.read("requirements.txt").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    # the same words whether the outputs are fresh or from the cache: the page must not
    # change (and be rewritten) just because a build reused the outputs
    status = {"cached": "outputs computed in this env", "executed": "outputs computed in this env",
              "stored": "outputs as stored in the notebook (not executed)"}
    return {
        "slug": post.slug,
        "env_id": rp.env_id,
        "env_files": rp.spec.describe(config.root),
        "env_origin": rp.spec.origin,
        "packages": packages,
        "launch_url": launch_url(config, post) if mode != "binderhub" else "",
        "binder_url": binder_launch_url(config, post, rp.env_id) if mode != "launcher" else "",
        "colab_url": colab_url(config, post),
        "downloads": downloads,
        "computed": f"{status[rp.executed.status]} ({rp.backend} backend)",
        "summary": post.meta.summary,
        "image_url": post.image_url,
        "date": post.date.isoformat(),
        "updated": rp.updated,
        "reading_minutes": reading_minutes(post),
        "live": live_config(config, rp) if rp.thebe else None,
    }


def live_config(config: Config, rp: RenderPost) -> dict[str, str]:
    """What the page's "Run code here" needs: thebe, and the launch stream it follows: our
    launcher as a BinderHub whose repositories are the posts (``/build/git/<slug>/<env
    id>``), or, with ``[launch] mode = "binderhub"``, the post's env ref on the BinderHub."""
    post = rp.post
    if config.launch.mode == "binderhub":
        build, path = binder_build_url(config, rp.env_id), post_path(post)
    else:
        build = (f"{config.launch.url.rstrip('/')}/build/git/{quote(post.slug, safe='')}/"
                 f"{rp.env_id}")
        path = post.notebook_name
    return {"thebe": rp.thebe, "build": build, "path": path,
            "kernel": post.kernel, "language": post.language}


COVER = "publish-cover"  # the front matter's image, beside the page in Sphinx's source


def cover_file(post: Post) -> Path | None:
    """The front matter's image as a file beside the post, when it is an image Sphinx
    copies (a web address or a missing file: None; discovery warned)."""
    path = post.image_file
    return path if path is not None and path.suffix.lower() in IMAGE_SUFFIXES else None


def header_cell(config: Config, rp: RenderPost) -> str:
    post = rp.post
    meta = post.meta
    opts = []
    if meta.tags:
        opts.append(":tags: " + ", ".join(meta.tags))
    authors = meta.authors or config.all_authors
    if authors:
        opts.append(":author: " + ", ".join(authors))
    # a summary of the front matter's opens the post; one taken from the first paragraph
    # is that paragraph, said once
    summary = meta.summary_markup.replace("\n", " ") if post.summary_given else ""
    post_directive = "\n".join(["```{post} " + post.date.isoformat(), *opts, "", summary, "```"])
    if meta.unlisted:  # fastpages' hide, Pelican's hidden: a page at its address, no post
        post_directive = summary  # of ABlog's (no listing, tag page, archive or feed)
    box = json.dumps(post_box_data(config, rp), indent=1)
    # the front matter's image: the post's first image, so the listings' thumbnail and
    # the social cards use it; the page itself does not show it (publish.css)
    cover = (f"\n```{{image}} {COVER}{Path(meta.image).suffix.lower()}\n:class: publish-cover\n"
             f":alt: {meta.title}\n```\n" if cover_file(post) else "")
    # the title is text: "x < y" and "R&D" are not HTML in the Markdown heading
    title = meta.title.replace("&", "\\&").replace("<", "\\<")
    return (f"# {title}\n\n{post_directive}\n{cover}\n```{{publish-post}}\n{box}\n"
            f"```\n{failure_note(rp.executed.failure)}")


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def failure_note(failure: str) -> str:
    """What a post's page says when its code failed in this build (its outputs are the
    stored ones): the failure, as the build reported it."""
    if not failure:
        return ""
    text = ANSI.sub("", failure)
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return (f"\n{fence}`{{admonition}} The code of this post failed in this build: the "
            f"outputs shown are the ones stored before\n:class: error publish-exec-failed\n\n"
            f"{fence}text\n{text}\n{fence}\n{fence}`\n")


def sphinx_notebook(config: Config, rp: RenderPost) -> tuple[NotebookNode, dict[str, bytes]]:
    """The executed notebook, with our header (title, post directive, badges) first, made
    renderable (:mod:`publisher.pipeline.cells`); and the files it needs beside it."""
    nb = copy.deepcopy(rp.executed.notebook)
    files = attachments_to_files(nb)
    raw_cells_for_sphinx(nb)
    book_notebook(nb, rp.post)  # MyST settings, a reference list
    no_render_execution(nb)  # executed by publish, in its env: never again by MyST-NB
    rich_outputs(nb, config.site.math)  # Plotly charts drawn
    for cell in nb.cells:
        if cell.cell_type == "markdown" and H1.search(cell.source):
            cell.source = H1.sub("", cell.source, count=1).lstrip("\n")
            break
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(header_cell(config, rp)))
    for cell in nb.cells:
        cell.pop("id", None)  # ids churn between saves; not needed for rendering
    nb.nbformat_minor = 4
    return nb, files


# slug -> the notebook Sphinx reads and the files beside it, under everything they are
# made of (the post and executed notebook are the same objects while unchanged)
_SOURCES: Memo[str, tuple[str, dict[str, bytes]]] = Memo()


def _page_source(config: Config, rp: RenderPost) -> tuple[str, dict[str, bytes]]:
    cover = cover_file(rp.post)
    check = (config, rp.post, rp.executed.notebook, rp.executed.status,
             rp.executed.failure, rp.spec, rp.env_id,
             rp.backend, rp.thebe, rp.updated, cover and stamp(cover))
    kept = _SOURCES.get(rp.post.slug, check)
    if kept is not None:
        return kept
    nb, files = sphinx_notebook(config, rp)
    return _SOURCES.put(rp.post.slug, check, (notebook_json(nb), files))


CONF = '''\
# Generated by publish; edit publish.toml instead.
project = {title!r}
author = {author!r}
language = {language!r}
extensions = ["myst_nb", "ablog", "sphinx.ext.mathjax", "pydata_sphinx_theme", "sphinx_book_theme",
              "sphinxext.opengraph", "publisher.pipeline.sphinx_ext"]
# canonical links, Open Graph and Twitter cards: absolute, from [site] base_url
html_baseurl = {base_url!r}
ogp_site_url = {base_url!r}
ogp_type = "article"
ogp_enable_meta_description = True
ogp_social_cards = {{"enable": False}}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
# no figure per language: an image is the file its page names (and nothing else is read)
figure_language_filename = "{{root}}{{ext}}"
html_theme = "sphinx_book_theme"
# publish's rendering code, templates and Sphinx packages: a change re-renders every page
publish_renderer = {renderer!r}
html_title = {title!r}
html_static_path = []
# Values the themes and myst-parser would set while building, set here already: a config
# that changes during a build makes Sphinx rewrite every page on the next one.
html_theme_options = {{
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "navbar_persistent": ["search-button-field"],
    "icon_links": [],
    "logo": {{}},
}}
html_permalinks_icon = "#"
html_sourcelink_suffix = ""
mathjax_path = {mathjax_path!r}
mathjax3_config = {{"options": {{"processHtmlClass": "tex2jax_process|mathjax_process|math|output_area"}}}}
# the sidebar lists recent posts, not every post: a list of every post on every page
# makes a build quadratic in the number of posts (300 posts: 43 s instead of 11 s); its
# search box is the navbar's (one search box per page)
html_sidebars = {{
    "**": ["navbar-logo.html", "ablog/postcard.html",
           "ablog/recentposts.html", "publish-pages.html", "ablog/tagcloud.html",
           "ablog/archives.html"],
}}
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "substitution",
                          "html_image"]  # <img src> in Markdown: an image of the page
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type", "myst.header"]
blog_title = {title!r}
blog_path = "blog"
blog_baseurl = {base_url!r}
blog_feed_fulltext = False
blog_feed_length = 50
blog_feed_archives = True  # a feed per tag, author and year too
publish_listing = {listing!r}
publish_page_size = {page_size!r}
blog_feed_subtitle = {description!r}
post_date_format = "%d %B %Y"
post_date_format_short = "%d %b %Y"
# thumbnails are publish's (listings, feeds): ABlog's excerpt images break in builds
# that do not write the post again (a relative path into its work folder)
post_auto_image = 0
post_show_prev_next = False  # the theme's previous/next are the older and newer post
post_auto_excerpt = 1
fontawesome_included = True  # keeps the config stable: no full re-read on every build
'''


@functools.cache
def renderer_digest() -> str:
    """A digest of what renders pages besides the site: our Sphinx extension, templates and
    static files, and the versions of the Sphinx packages."""
    from importlib.metadata import version

    here = Path(__file__).resolve().parent
    # every module of the pipeline (what renders a page is spread over several; one left
    # out of a list kept by hand would leave pages rendered by old code)
    files = [*sorted(here.glob("*.py")),
             *sorted(p for p in (here.parent / "templates").rglob("*") if p.is_file())]
    packages = ["sphinx", "myst-nb", "myst-parser", "ablog", "sphinx-book-theme",
                "pydata-sphinx-theme", "sphinxext-opengraph", "sphinx-design",
                "sphinx-togglebutton", "sphinx-proof", "sphinxcontrib-bibtex"]
    return digest([*(f.read_bytes() for f in files),
                   *(f"{name}=={version(name)}" for name in packages)])


def conf_py(config: Config, math_local: bool = False) -> str:
    """Sphinx's conf.py; *math_local*: MathJax is served from the site (else its CDN)."""
    base_url = config.site.url
    return CONF.format(
        renderer=renderer_digest(),
        listing=config.site.listing,
        page_size=config.site.page_size,
        mathjax_path=mathjax_path(math_local),
        title=config.site.title,
        author=", ".join(config.all_authors),
        language=config.site.language,
        base_url=base_url,
        description=config.site.description,
    )


def index_md(config: Config, posts: list[Post], pages: list[Path]) -> str:
    desc = f"\n{config.site.description}\n" if config.site.description else ""
    post_docs = "\n".join(f"posts/{p.slug}/index" for p in posts)
    page_docs = "\n".join(f"pages/{p.stem}" for p in pages)
    return (
        f"# {config.site.title}\n{desc}\n"
        # the newest posts, filled in by publisher.pipeline.listing as the page is written
        f"```{{raw}} html\n{HOME_MARKER}\n```\n\n"
        '<p class="publish-site-links"><a href="blog.html">All posts</a> · '
        '<a href="blog/tag.html">Tags</a> · <a href="blog/archive.html">Archive</a> · '
        '<a href="blog/atom.xml">Atom feed</a></p>\n\n'
        f"```{{toctree}}\n:hidden:\n:caption: Posts\n:maxdepth: 1\n\n{post_docs}\n```\n\n"
        + (f"```{{toctree}}\n:hidden:\n:caption: Pages\n:maxdepth: 1\n\n{page_docs}\n```\n"
           if pages else "")
    )


def write_project(config: Config, src: Path, items: list[RenderPost], pages: list[Path],
                  math_local: bool = False, old: dict[str, str] | None = None) -> bool:
    """Write (only what changed of) the Sphinx source folder; True if anything changed."""
    src.mkdir(parents=True, exist_ok=True)
    keep: set[Path] = set()
    changed = False

    def put(rel: str, content: str | bytes) -> None:
        nonlocal changed
        path = src / rel
        keep.add(path)
        changed = write_if_changed(path, content) or changed

    posts = [rp.post for rp in items]
    bibs = bib_files(config, posts)  # the site's and the posts' BibTeX files
    put("conf.py", conf_py(config, math_local) + book_conf(config, list(bibs)))
    for rel, data in bibs.items():
        put(rel, data)
    put("index.md", index_md(config, posts, pages))
    # where each page's document is in the site: what it names resolves from there
    put(SITE_FILES, site_files(config.root, {
        **{f"posts/{p.slug}/index": p.rel_source for p in posts},
        **{f"pages/{p.stem}": f"pages/{p.name}" for p in pages}},
        urlsplit(config.site.url).path or "/", old))
    for rp in items:
        post = rp.post
        text, files = _page_source(config, rp)
        put(f"posts/{post.slug}/index.ipynb", text)
        for rel, data in files.items():
            put(f"posts/{post.slug}/{rel}", data)
        if (cover := cover_file(post)) is not None:
            put(f"posts/{post.slug}/{COVER}{cover.suffix.lower()}", cover.read_bytes())
        for f in post.data_files():
            if post.folder is not None and f.suffix.lower() in IMAGE_SUFFIXES:
                put(f"posts/{post.slug}/{f.relative_to(post.folder).as_posix()}", f.read_bytes())
    for page in pages:
        put(f"pages/{page.name}", page.read_bytes())
        for img in page.parent.iterdir():  # a link out of the site: discovery named it
            if img.suffix.lower() in IMAGE_SUFFIXES and link_problem(img, config.root) is None:
                put(f"pages/{img.name}", img.read_bytes())
    for path in sorted(src.rglob("*"), reverse=True):  # remove what no longer exists
        if path.is_file() and path not in keep:
            path.unlink()
            changed = True
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return changed


class FilesRefused(BuildFailed):
    """Pages that name files outside the site (:mod:`publisher.pipeline.reads`): each
    refusal with the author's file and line, by document."""

    def __init__(self, by_doc: dict[str, list[str]]) -> None:
        self.by_doc = by_doc
        super().__init__([m for messages in by_doc.values() for m in messages],
                         "The build failed (the site was not changed):")


# One warm Sphinx application per output folder: a second build in the same process
# re-reads only what changed (~0.4 s) instead of paying Sphinx's start-up (~3 s).
_WARM: dict[tuple[str, str, bool], tuple[str, Any, io.StringIO, str]] = {}


# The language of this process's Sphinx applications. Sphinx translates some of its
# words once, when its modules are imported (the module index's title…): a long-lived
# process (`publish serve`, the warm build process) renders another language in a fresh
# process instead.
_LANGUAGE: list[str] = []


def _run_sphinx_apart(src: Path, out: Path, doctrees: Path, strict: bool) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="publish-render-") as tmp:
        result = Path(tmp) / "warnings.json"
        # -P and the source folder as the working one: no module of the site's shadows
        # one Sphinx imports
        res = subprocess.run([sys.executable, "-P", "-m", "publisher.pipeline.render",
                              str(src), str(out), str(doctrees), "strict" if strict else "",
                              str(result)], cwd=src, capture_output=True, text=True,
                             check=False)
        if res.returncode != 0:
            raise PublishError(res.stderr.strip()[-4000:]
                               or f"rendering failed (exit {res.returncode})")
        try:
            found = json.loads(result.read_text())
            warnings, refused = found["warnings"], found["refused"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PublishError(f"rendering gave no result: {exc}") from exc
        if refused:
            raise FilesRefused(refused)
        return [str(w) for w in warnings]


def run_sphinx(src: Path, out: Path, doctrees: Path, strict: bool) -> list[str]:
    """Render *src* into *out*; returns Sphinx's new warnings (raises on errors)."""
    from sphinx.application import Sphinx
    from sphinx.errors import SphinxError
    from sphinx.util.console import nocolor

    nocolor()
    key = (str(src), str(out), strict)
    conf = (src / "conf.py").read_text()
    found = re.search(r"^language = (.*)$", conf, re.MULTILINE)
    language = found[1] if found else ""
    if _LANGUAGE and _LANGUAGE[0] != language:
        return _run_sphinx_apart(src, out, doctrees, strict)
    warm = _WARM.get(key)
    app: Any = None
    # a warm application holds the environment of the doctrees folder it made: not after
    # that folder was deleted or replaced (`rm -rf _build`)
    token = doctrees / ".publish-warm"
    if warm is not None and not (token.is_file() and token.read_text() == warm[3]):
        warm = None
    try:
        if warm is None or warm[0] != conf:
            warnings = io.StringIO()
            # Sphinx keeps the labels it translated (the module index's…) in a saved
            # environment whatever the language: a new language starts a new one
            said = doctrees / ".publish-language"
            fresh = not said.is_file() or said.read_text() != language
            _LANGUAGE[:] = [language]
            # sphinxext-opengraph prints a note on import when matplotlib is missing (for
            # its generated cards, which publish does not use)
            with contextlib.redirect_stdout(io.StringIO()):
                app = Sphinx(
                    str(src), str(src), str(out), str(doctrees), "html",
                    status=None, warning=warnings, freshenv=fresh, warningiserror=strict,
                    keep_going=True, verbosity=0,
                )
            _WARM[key] = (conf, app, warnings, secrets.token_hex(8))
            doctrees.mkdir(parents=True, exist_ok=True)
            token.write_text(_WARM[key][3])
            said.write_text(language)
        _, app, warnings, _ = _WARM[key]
        start = warnings.tell()
        app.build()  # leftovers of removed posts are pruned by sphinx_ext
    except (SphinxError, Exception) as exc:
        _WARM.pop(key, None)
        if app is not None and (refused := refusals(app)):  # what made it fail, said
            raise FilesRefused(refused) from None
        text = warnings.getvalue().strip()
        raise PublishError(
            f"rendering failed: {exc}" + (f"\nSphinx said:\n{text}" if text else "")
        ) from exc
    if refused := refusals(app):  # pages that name files outside the site
        raise FilesRefused(refused)
    warnings.seek(start)
    lines = [
        line for line in warnings.read().splitlines()
        # a second Sphinx app in one process re-registers the extensions' nodes: harmless;
        # a refused file is said by FilesRefused, not as the file a reader did not find
        if line.strip() and "is already registered" not in line and REFUSED not in line
    ]
    if strict and app.statuscode:
        raise PublishError("rendering produced warnings (--strict):\n" + "\n".join(lines))
    return lines


if __name__ == "__main__":  # a render in a fresh process (see _run_sphinx_apart)
    refused: dict[str, list[str]] = {}
    try:
        found = run_sphinx(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]),
                           sys.argv[4] == "strict")
    except FilesRefused as exc:
        found, refused = [], exc.by_doc
    except PublishError as exc:
        sys.exit(exc.message)
    Path(sys.argv[5]).write_text(json.dumps({"warnings": found, "refused": refused}))
