"""Where things are: the site's folders, the output's addresses, the reader's home.

One place for every path that more than one part of publish must agree on (the build
writes them, the launcher, deploy and the dev server read them).
"""

from __future__ import annotations

from pathlib import PurePosixPath

# the author's folders inside a site
POSTS = "posts"
PAGES = "pages"
STATIC = "static"
ENV_FOLDERS = ("binder", ".binder")  # repo2docker's, first match wins
SOURCE_FOLDERS = (POSTS, PAGES, STATIC, *ENV_FOLDERS)
CONFIG_FILE = "publish.toml"

# publish's own folders inside a site
WORK = "_build"  # caches, the Sphinx project: never published
DEFAULT_OUT = "_site"

# inside the output (the published site)
PUBLISHED = "_publish"  # what the launcher and readers' downloads read
SITE_JSON = f"{PUBLISHED}/site.json"

# inside a session (every backend): the reader's home and where the post's files land
READER_HOME = "/home/reader"
READER_WORK = f"{READER_HOME}/work"


def post_url(slug: str) -> str:
    """A post's page, relative to the site's root."""
    return f"{POSTS}/{slug}/index.html"


def published_notebook(slug: str, notebook_name: str) -> str:
    """Where the output holds a post's executed notebook (relative to the output)."""
    return f"{PUBLISHED}/notebooks/{slug}/{notebook_name}"


def published_source(slug: str, source_name: str) -> str:
    """Where the output holds a post's source document (relative to the output)."""
    return f"{PUBLISHED}/sources/{slug}/{source_name}"


def from_post_page(rel: str) -> str:
    """*rel* (relative to the output's root) as a link from a post's page."""
    return str(PurePosixPath("../..") / rel)


def published_take_home(slug: str) -> str:
    """Where the output holds a post's "Run it yourself" zip (relative to the output)."""
    return f"{PUBLISHED}/take-home/{slug}.zip"


def published_files(slug: str) -> str:
    """Where the output holds a post's files (its folder but the source and env folders:
    what a reader's session receives beside the notebook), relative to the output."""
    return f"{PUBLISHED}/files/{slug}"


def published_env(env_id: str) -> str:
    """Where the output holds an env's spec files (its build context when it has one:
    what a launcher builds the env from when it lacks it), relative to the output."""
    return f"{PUBLISHED}/envs/{env_id}"
