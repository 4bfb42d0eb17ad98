"""Every patch publish makes to another library, one module per library.

Each module names the versions its patches were written for and checks them when it is
imported (:func:`publisher.compat.versions.require`); a test per patch
(``tests/test_compat.py``) shows it still does what it says. Nothing outside this package
touches another library's private names.
"""
