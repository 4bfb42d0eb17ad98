import os
import sys
sys.path.append(os.curdir)
from pelicanconf import *

SITEURL = 'https://walks.example.org'
FEED_ALL_ATOM = 'feeds/all.atom.xml'
