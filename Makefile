# `make test` is the README's test command and what CI runs.
PY ?= python

.PHONY: install test demo
install:
	$(PY) -m pip install -r requirements-dev.txt

test: install
	$(PY) -m pytest -q

demo:
	$(PY) -m pip install -r requirements.txt
	$(PY) train.py --config configs/wrinkle_quick.json
