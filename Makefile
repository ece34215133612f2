# Two commands set everything up: `make demo` and `make test`. Both create .venv when missing and are quick after.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgelower-installed
# torch first and pinned: 2.13.0 takes the CPU wheel; an unpinned torch would pull gigabytes of CUDA packages.
TORCH_PIN := torch==2.13.0
PYTEST_WORKERS ?= 2

.PHONY: demo test install clean

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
