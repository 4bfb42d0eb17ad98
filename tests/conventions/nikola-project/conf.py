# -*- coding: utf-8 -*-
import time

# Data about this site
BLOG_AUTHOR = "Nora Nikola"
BLOG_TITLE = "Sampling notes"
SITE_URL = "https://nora.example.org/"
BLOG_EMAIL = "nora@example.org"
BLOG_DESCRIPTION = "Notebooks about sampling"
DEFAULT_LANG = "en"
TRANSLATIONS = {
    DEFAULT_LANG: "",
}

POSTS = (
    ("posts/*.ipynb", "blog", "post.tmpl"),
    ("posts/*.md", "posts", "post.tmpl"),
)
PAGES = (
    ("pages/*.md", "pages", "page.tmpl"),
)
COMPILERS = {
    "markdown": ('.md', '.mdown', '.markdown'),
    "ipynb": ('.ipynb',),
}
TIMEZONE = "Europe/Berlin"
PRETTY_URLS = True
COPYRIGHT = 'Contents &copy; {date} <a href="mailto:{email}">{author}</a>'
CONTENT_FOOTER = COPYRIGHT.format(date=time.gmtime().tm_year, email=BLOG_EMAIL,
                                  author=BLOG_AUTHOR)
