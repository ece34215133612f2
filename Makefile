# Two commands set everything up: `make demo` and `make test`. Both create .venv when missing and are quick after.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.edgelower-installed
# torch first and pinned: 2.13.0 takes the CPU wheel; an unpinned torch would pull gigabytes of CUDA packages.
TORCH_PIN := torch==2.13.0
PYTEST_WORKERS ?= 2
# Cortex-M targets: cross compiler, newlib (rdimon semihosting) and the emulator, as Debian packages.
CORTEX_M_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
# gemmlowp's own fixedpoint.h and a C++ compiler: the int8 runtime's fixed point is checked against them.
FIXEDPOINT_ORACLE_PACKAGES := libgemmlowp-dev g++

.PHONY: demo test test-fast install clean cortex-m-tools fixedpoint-oracle

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

# Everything: what CI runs.
test: $(STAMP) cortex-m-tools fixedpoint-oracle
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) tests

# The edit loop: the suite without tests marked slow (whole-zoo builds, emulator runs of every model).
test-fast: $(STAMP) cortex-m-tools fixedpoint-oracle
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow" tests

# System packages: installed when missing and possible (root, apt-get), else named; the tests that need them skip.
cortex-m-tools:
	@tools/ensure-debian-packages Cortex-M $(CORTEX_M_PACKAGES)

fixedpoint-oracle:
	@tools/ensure-debian-packages "fixed-point oracle" $(FIXEDPOINT_ORACLE_PACKAGES)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
