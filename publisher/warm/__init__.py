"""The warm build process: ``publish build`` hands its work to a process that stays.

A fresh ``publish build`` pays for Python's imports, Sphinx's start and a read of every
post before it learns that one post changed (about 4 s at 500 posts). So the first build of
a site starts a *warm build process* for it, which runs that site's builds from then on and
keeps a :class:`publisher.workspace.Workspace`: what the builds share (the Sphinx
application, the parsed posts, env ids and rendered sources, each kept only while its
files are unchanged).

The build looks and behaves as in one process: the client passes its standard streams
(file descriptors, over a Unix socket), its working folder and its environment, and exits
with the build's exit code; Ctrl-C stops the build (and that warm process, whose state may
be half-updated). There is one warm process per site, Python and version of publish and
its packages (a change starts a new one); it ends after ``PUBLISH_WARM_IDLE`` seconds
without a build (default 300), or with ``publish warm stop``. At most ``PUBLISH_WARM_MAX``
of them (default 3) run for a user: starting another stops the least recently used. A warm
build process starts no kernel ahead of the build that needs it (``publish serve`` does).
Its socket lives in a folder only its user can enter, and it serves only its own user.

Not used when ``PUBLISH_WARM=0``, with ``--no-warm``, or where the variable ``CI`` is set
(one build per machine has nothing to keep warm).

Modules: :mod:`.place` (where warm processes are found), :mod:`.wire` (what client and
process say), :mod:`.client` (``publish build``'s side), :mod:`.process` (the process).
"""
