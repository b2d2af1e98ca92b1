# One-command entry points (see README.md).
#   make demo   set up .venv and pretrain a tiny MixMIM on the embedded data
#   make test   set up .venv and run the whole test suite (what CI runs)
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DATA ?= data/embedded
DEMO_DIR ?= work_dirs/mixmim-tiny_1xb32_20e_embedded

.PHONY: env data demo test test-fast lint clean

env:
	bash tools/setup_env.sh

data: env
	$(PY) tools/data/make_embedded_data.py --out $(DATA)

demo: data
	$(PY) tools/demo.py --data $(DATA) --work-dir $(DEMO_DIR)

test: env
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest tests -q

test-fast: env
	PATH=$(abspath $(VENV))/bin:$$PATH $(PY) -m pytest tests -q -m "not slow"

lint: env
	$(PY) -m flake8 mixmim_plugin tools tests configs setup.py
	$(PY) -m isort --check-only --diff mixmim_plugin tools tests setup.py
	$(PY) -m yapf --diff --recursive mixmim_plugin tools tests setup.py

clean:
	rm -rf work_dirs .pytest_cache
