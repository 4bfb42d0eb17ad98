"""Site discovery: the config, every post and page, with all problems collected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from publisher.config import Config, load_config
from publisher.content.conventions import FOLDER_METADATA, dated_name, is_post_file
from publisher.content.history import History
from publisher.content.post import SOURCE_NAMES, Post, read_post
from publisher.errors import ContentError
from publisher.memo import Memo, Stamp, stamp
from publisher.paths import files_under, link_problem

POST_SUFFIXES = (".ipynb", ".md", ".qmd")


@dataclass
class Site:
    config: Config
    posts: list[Post]  # published posts (drafts only with include_drafts), newest first
    pages: list[Path]
    problems: list[str] = field(default_factory=list)  # one message per broken post
    drafts: list[Post] = field(default_factory=list)  # left out: drafts, scheduled posts

    @property
    def warnings(self) -> list[str]:
        """Fallbacks the posts being built needed (a title from the slug, a date from git or
        the file); drafts count when they are built (then they are in ``posts``)."""
        return [w for post in self.posts for w in post.warnings]

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def build_dir(self) -> Path:
        """Where builds keep what they reuse (rendering, execution records)."""
        return self.root / "_build"

    def post(self, slug: str) -> Post | None:
        return next((p for p in self.posts if p.slug == slug), None)


def find_sources(root: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(slug, source) for every post under ``posts/``, plus problems found on the way.

    A ``YYYY-MM-DD-slug`` name gives the slug ``slug`` (Jekyll's rule); when two such
    names give one slug, each keeps its whole name as its slug. README files and Jupyter
    checkpoints are no posts."""
    posts_dir = root / "posts"
    found: dict[str, list[Path]] = {}
    problems: list[str] = []
    if not posts_dir.is_dir():
        return [], []
    for entry in sorted(posts_dir.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            sources = [entry / n for n in SOURCE_NAMES if (entry / n).is_file()]
            rel = entry.relative_to(root).as_posix()
            if not sources and assets_only(entry):
                continue  # shared images or data of flat posts (posts/images/): not a post
            if not sources:
                problems.append(
                    f"{rel}/: a post folder without a source document; "
                    "add index.ipynb, index.md or index.qmd (or remove the folder)."
                )
                continue
            if len(sources) > 1:
                problems.append(
                    f"{rel}/: has {' and '.join(s.name for s in sources)}; keep one source document."
                )
                continue
            found.setdefault(entry.name, []).append(sources[0])
        elif entry.suffix in POST_SUFFIXES and is_post_file(entry):
            found.setdefault(entry.stem, []).append(entry)
    named: dict[str, list[tuple[str, Path]]] = {}
    for name, sources in found.items():
        dated = dated_name(name)
        named.setdefault(dated[1] if dated else name, []).extend((name, s) for s in sources)
    result: list[tuple[str, Path]] = []
    for slug, items in named.items():
        if len(items) > 1 and len({name for name, _ in items}) == len(items):
            result += items  # 2020-02-04-test.md and 2020-02-05-test.md: their whole names
            continue
        if len(items) > 1:
            names = " and ".join(s.relative_to(root).as_posix() for _, s in items)
            problems.append(f"{names}: two posts with the same slug '{slug}'; rename one.")
            continue
        result.append((slug, items[0][1]))
    return result, problems


def assets_only(folder: Path) -> bool:
    """Whether a folder of ``posts/`` without ``index.ipynb``/``index.md`` holds only
    files that are no documents (Quarto's and fastpages' ``posts/images/`` beside flat
    posts): the posts' relative paths find them there. A folder holding a notebook or a
    Markdown file (but no index) is still a post folder missing its source document."""
    return not any(p.suffix in POST_SUFFIXES and is_post_file(p)
                   and ".ipynb_checkpoints" not in p.parts for p in folder.rglob("*"))


# (slug, source, root) -> (the post, the stamps of where its front matter image may be)
ReadPosts = Memo[tuple[str, Path, Path], tuple[Post, tuple[Stamp, ...]]]


def _read_post(slug: str, source: Path, root: Path, read: ReadPosts, history: History) -> Post:
    """:func:`read_post`, kept while the file, its folder, the ``_metadata.yml`` of
    ``posts/`` and of its folder, and the front matter's ``image`` are unchanged. A post
    without a date is read again every time: its date comes from git, which can change
    without the file."""
    sidecar = source.with_name(source.name + "-meta")  # Pelican's, beside a notebook
    folders = {root / "posts", source.parent}  # Quarto's _metadata.yml there
    key, check = (slug, source, root), (stamp(source), stamp(source.parent), stamp(sidecar),
                                        *(stamp(f / FOLDER_METADATA) for f in sorted(folders)))
    kept = read.get(key, check)
    if kept is not None and _image_stamp(kept[0]) == kept[1]:
        return kept[0]
    post = read_post(slug, source, root, history)
    if post.date_given:
        read.put(key, check, (post, _image_stamp(post)))
    return post


def _image_stamp(post: Post) -> tuple[Stamp, ...]:
    return tuple(stamp(p) for p in post.image_places)


def discover(root: Path, include_drafts: bool = False, read: ReadPosts | None = None,
             history: History | None = None) -> Site:
    """Read the config and every post; broken posts become ``problems``, not exceptions.
    *read*: the posts read by earlier builds of a long-lived process (each kept while its
    files are unchanged); *history*: the site's git history as they read it."""
    read = read if read is not None else ReadPosts()
    history = history if history is not None else History()
    config = load_config(root)
    sources, problems = find_sources(config.root)
    posts: list[Post] = []
    drafts: list[Post] = []
    for slug, source in sources:
        try:
            post = _read_post(slug, source, config.root, read, history)
            post.data_files()  # a link out of the site: named now, before anything runs
        except ContentError as exc:
            problems += exc.problems  # every problem of the post, not the first alone
            continue
        # a post dated after today is scheduled: like a draft until its day (the build
        # of that day lists it)
        (posts if include_drafts or not post.unpublished() else drafts).append(post)
    posts.sort(key=lambda p: (p.date, p.slug), reverse=True)
    pages, page_problems = _pages(config.root)
    problems += page_problems
    try:  # the build copies static/ whole
        if (config.root / "static").is_dir():
            files_under(config.root / "static", config.root)
    except ContentError as exc:
        problems.append(exc.message)
    return Site(config, posts, pages, problems, drafts)


def _pages(root: Path) -> tuple[list[Path], list[str]]:
    """The pages (``pages/*.md``) and a problem for each file of ``pages/`` (a page, an
    image beside them) that is a link out of the site: such a page is not built."""
    folder = root / "pages"
    if not folder.is_dir():
        return [], []
    pages, problems = [], []
    for path in sorted(folder.iterdir()):
        if (problem := link_problem(path, root)) is not None:
            problems.append(problem)
        elif path.suffix == ".md" and path.is_file():
            pages.append(path)
    return pages, problems
