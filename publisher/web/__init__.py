"""HTTP rules shared by the launcher, the dev server, the config's checks and deploy:
origins and host names (:mod:`~publisher.web.addresses`), cross-origin answers
(:mod:`~publisher.web.cors`), trusted proxies' ``X-Forwarded-*`` headers
(:mod:`~publisher.web.forwarded`). Pure: they import the standard library and Starlette's
types only, never the launcher or the pipeline."""
