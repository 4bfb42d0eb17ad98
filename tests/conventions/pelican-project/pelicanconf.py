#!/usr/bin/env python
from __future__ import unicode_literals
import publish_would_fail_if_this_ran  # never executed by publish import

AUTHOR = 'Jane Perambulator'
SITENAME = 'Pythonic Walks'
SITESUBTITLE = 'Musings through Python'
SITEURL = ''
PATH = 'content'
ARTICLE_URL = 'posts/{date:%Y}/{date:%b}/{date:%d}/{slug}/'
ARTICLE_SAVE_AS = 'posts/{date:%Y}/{date:%b}/{date:%d}/{slug}/index.html'
STATIC_PATHS = ['images', 'downloads']
NOTEBOOK_DIR = 'downloads/notebooks'
PLUGINS = ['liquid_tags.notebook']
