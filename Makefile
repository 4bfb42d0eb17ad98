# Everything creates what it needs: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PORT ?= 8000

.PHONY: venv demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# a venv made before the package was named publish-notebooks holds it as "publish"
	$(BIN)/python -m pip uninstall -q -y publish 2>/dev/null || true
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

## demo: build the sample site and serve it with the launcher on 127.0.0.1:$(PORT);
## BACKEND=local (virtualenvs, Jupyter subprocesses) or docker; auto: docker when an engine answers
BACKEND ?= auto
# the base image scripts/provision.sh builds where no registry is reachable, if present
LOCAL_BASE := $(shell docker image inspect publish-base:bookworm >/dev/null 2>&1 && echo publish-base:bookworm)
# the backend `auto` is here, as `publish serve` picks it (said before the first build)
WHICH_BACKEND := from pathlib import Path; from publisher.backends import backend_for; \
  from publisher.config import load_config; print(backend_for(load_config(Path("sample_site"))).name)

demo: venv
	@export PUBLISH_BASE_IMAGE=$${PUBLISH_BASE_IMAGE:-$(LOCAL_BASE)}; \
	backend=$(BACKEND); \
	if [ "$$backend" = auto ]; then backend=$$($(BIN)/python -c '$(WHICH_BACKEND)') || exit 1; fi; \
	echo "make demo: the $$backend backend (make demo BACKEND=local|docker chooses)"; \
	exec $(BIN)/publish serve sample_site --port $(PORT) --backend $$backend

## test: the whole suite (unit, real builds, real Docker, real browser)
test: venv
	$(BIN)/python -m pytest

## test-fast: what runs in seconds: no full builds, servers, Docker or browser
test-fast: venv
	$(BIN)/python -m pytest -m "not slow and not docker and not browser"

lint: venv
	$(BIN)/ruff check publisher tests bench
	$(BIN)/mypy

## bench: benchmarks (never part of `make test`); writes bench/results/latest.{json,md}
bench: venv
	$(BIN)/python bench/run.py

clean:
	rm -rf sample_site/_build sample_site/_site .pytest_cache
