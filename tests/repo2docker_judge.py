"""repo2docker's own verdict on a git ref (run as a script: the last line of its output is a JSON object).

Usage: python repo2docker_judge.py REPO_URL REF

repo2docker's Git content provider clones REPO_URL and checks out REF, as a BinderHub
does; then repo2docker's build packs are asked in repo2docker's order which one detects
the checkout, and the picked one renders its Dockerfile. Nothing is built.
"""

import json
import os
import sys
import tempfile

from repo2docker.app import Repo2Docker
from repo2docker.contentproviders import Git


def main() -> None:
    url, ref = sys.argv[1], sys.argv[2]
    r2d = Repo2Docker(repo=url, ref=ref, dry_run=True, run=False, push=False)
    r2d.content_providers = [Git]  # the others ask the internet what they can fetch
    with tempfile.TemporaryDirectory() as checkout:
        r2d.fetch(url, ref, checkout)
        os.chdir(checkout)
        picked = None
        for bp_class in r2d.buildpacks:  # repo2docker's order, as in Repo2Docker.build
            bp = bp_class(base_image=r2d.base_image)
            if bp.detect():
                picked = bp
                break
        if picked is None:
            picked = r2d.default_buildpack(base_image=r2d.base_image)
        picked.platform = r2d.platform
        dockerfile = picked.render({"NB_USER": r2d.user_name, "NB_UID": str(r2d.user_id)})
        files = sorted(os.path.relpath(os.path.join(d, f), checkout)
                       for d, _, names in os.walk(checkout) if ".git" not in d.split(os.sep)
                       for f in names)
        print("\n" + json.dumps({"buildpack": type(picked).__name__, "dockerfile": dockerfile,
                          "python": getattr(picked, "python_version", None),
                          "files": files}))


if __name__ == "__main__":
    main()
