"""What a post's page shows above its notebook: the title, ABlog's post directive, the
post box (env, packages, launch and download links) and, when its code failed, a note."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from publisher.binderhub import binder_build_url, binder_launch_url, post_path, provider_spec
from publisher.config import Config
from publisher.content.plaintext import summary_html
from publisher.content.post import TEXT_KINDS, Post
from publisher.envs.spec import EnvSpec
from publisher.layout import (
    from_post_page,
    published_notebook,
    published_source,
    published_take_home,
)
from publisher.pipeline import take_home
from publisher.pipeline.execute import Executed
from publisher.progress import without_ansi

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}


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
    downloads = [("notebook (.ipynb)",
                  from_post_page(published_notebook(post.slug, post.notebook_name)))]
    if post.kind in TEXT_KINDS:
        downloads.append((f"source (.{post.kind})",
                          from_post_page(published_source(post.slug, post.source.name))))
    if take_home.has_code(post):  # notebook, data and env files, and how to run them
        downloads.append(("run it yourself (.zip)",
                          from_post_page(published_take_home(post.slug))))
    packages = [
        line.strip() for line in rp.spec.read("requirements.txt").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    # the same words whether the outputs are fresh or from the cache: the page must not
    # change (and be rewritten) just because a build reused the outputs
    status = {"cached": "outputs computed in this env", "executed": "outputs computed in this env",
              "stored": "outputs as stored in the notebook (not executed)",
              "running": "outputs from before: its code is running now"}
    return {
        "slug": post.slug,
        "env_id": rp.env_id,
        "env_files": rp.spec.describe(config.root),
        "env_origin": rp.spec.origin,
        "packages": packages,
        "launch_url": launch_url(config, post) if mode in ("launcher", "both") else "",
        "binder_url": (binder_launch_url(config, post_path(post), rp.env_id)
                       if mode in ("binderhub", "both") else ""),
        # a link to the notebook on GitHub, run on Google's machines: it needs nothing of
        # ours, so a static blog ([launch] mode = "off") keeps it (no repository: none)
        "colab_url": colab_url(config, post),
        "downloads": downloads,
        "computed": f"{status[rp.executed.status]} ({rp.backend} backend)",
        "summary": post.meta.summary,
        "summary_html": summary_html(post.meta.summary_markup),  # the listings'
        "image_url": post.image_url,
        "date": post.date.isoformat(),
        "updated": rp.updated,
        "reading_minutes": reading_minutes(post),
        "live": live_config(config, rp) if rp.thebe else None,
        "draft": post.unpublished(),  # built with --drafts: marked, in no feed
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
            "kernel": post.kernel, "language": post.language,
            # where the reader's edits are kept in their browser: per post and env
            "keep": f"{post.slug}:{rp.env_id}"}


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
    return (f"# {title}\n\n{post_directive}\n{draft_note(post)}{cover}\n```{{publish-post}}\n"
            f"{box}\n```\n{failure_note(rp.executed.failure)}"
            f"{running_note(rp.executed.status)}")


def running_note(status: str) -> str:
    """What a post's page says while its code runs apart from the build (``publish
    serve``): the outputs are from before; the page is made again when it ends."""
    if status != "running":
        return ""
    return ("\n```{admonition} The code of this post is running: the outputs shown are "
            "the ones from before\n:class: note publish-exec-running\n\nThis page is made "
            "again when it ends.\n```\n")


def draft_note(post: Post) -> str:
    """What the page of a post built only with --drafts says at its top: that readers do
    not see it (yet), and why."""
    why = post.unpublished()
    if not why:
        return ""
    if why == "draft":
        title, text = "Draft", ("This post is a draft: a build without `--drafts` leaves it "
                                "out, and no feed lists it.")
    else:
        title, text = "Scheduled", (f"This post is {why}: builds publish it from that day "
                                    "on; until then a build without `--drafts` leaves it out, "
                                    "and no feed lists it.")
    return f"\n```{{admonition}} {title}\n:class: warning publish-draft\n\n{text}\n```\n"


def failure_note(failure: str) -> str:
    """What a post's page says when its code failed in this build (its outputs are the
    stored ones): the failure, as the build reported it."""
    if not failure:
        return ""
    text = without_ansi(failure)
    fence = "`" * max(3, 1 + max((len(m) for m in re.findall(r"`+", text)), default=0))
    return (f"\n{fence}`{{admonition}} The code of this post failed in this build: the "
            f"outputs shown are the ones stored before\n:class: error publish-exec-failed\n\n"
            f"{fence}text\n{text}\n{fence}\n{fence}`\n")
