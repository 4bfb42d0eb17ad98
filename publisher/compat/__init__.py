"""Every patch publish makes to another library, one module per library.

Each module names the versions its patches were written for and checks them when it is
imported (:func:`publisher.compat.versions.require`); a test per patch
(``tests/test_compat.py``) shows it still does what it says. Nothing outside this package
touches another library's private names.

- ``sphinx``: doctree caches, the builder's asset lists, an event's listener, the warning
  count, ``BuildEnvironment.relfn2path``, the builder's static copy;
- ``ablog``: its per-process posts, its ``html-collect-pages`` handlers;
- ``myst`` (myst-parser): the renderer's directive and role, its ``{include}``, the
  substitutions' ``jinja2``; ``myst_nb``: a code cell's ``:load:``;
- ``bibtex`` (sphinxcontrib-bibtex): the cite role and the bibliography directive;
- ``pydata_sphinx_theme``: where it keeps its components, its head without FontAwesome's
  script;
- ``jsonschema``: imported without rfc3987-syntax;
- ``patch``: replacing a function once per process; ``versions``: the check.
"""
