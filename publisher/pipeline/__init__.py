"""The heavy stages of the build: execute notebooks, render the site."""
