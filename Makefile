# Two entry points that do all set-up on a fresh machine:
#   make app    create .venv, install, serve the dashboard on the built-in sample
#   make test   create .venv, install (and Chromium for the browser tests), run the tests
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5006
# torch first, pinned: an open-ended torch requirement on a fresh venv pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0

.PHONY: setup app test chromium lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[all]"
	# UMAP's numba code, compiled once and cached on disk: no server start waits ~25 s for it
	$(PY) -c "from dashboard.jobs import compile_umap; compile_umap()"
	touch $@

app: setup
	$(VENV)/bin/panel serve dashboard/app.py --warm --address 127.0.0.1 --port $(PORT) \
		--allow-websocket-origin 127.0.0.1:$(PORT) --allow-websocket-origin localhost:$(PORT)

chromium:
	@[ -x /usr/bin/chromium ] || { \
		[ "$$(id -u)" = 0 ] || { echo "error: browser tests need Chromium: run 'sudo apt-get install chromium'"; exit 2; }; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The tests but the browser's on $(TEST_WORKERS) worker processes (pytest-xdist), then the browser
# tests alone: their servers and Chromium need the cores to answer within their time limits.
TEST_WORKERS ?= 2

test: setup chromium
	$(PY) -m pytest -m "not ui" -n $(TEST_WORKERS)
	$(PY) -m pytest -m ui

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
