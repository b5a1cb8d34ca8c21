# One command to install and run: `make demo`; one to test: `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HASH := $(shell cat pyproject.toml requirements/constraints.txt | cksum | cut -d' ' -f1)
# two install levels: the demo needs the core and the readers it uses (extra 'demo'); the tests
# need everything (extra 'test': Ray, Flower, transformers, pytest, ...)
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)
PIP := $(PY) -m pip install -q --disable-pip-version-check -c requirements/constraints.txt torch==2.13.0

.PHONY: install install-test demo test docs bench clean

install: $(DEMO_STAMP)

install-test: $(TEST_STAMP)

$(DEMO_STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[demo]"
	rm -f $(VENV)/.installed-demo-*
	touch $@

$(TEST_STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $@ $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/healthnn demo --out demo-output

test: $(TEST_STAMP)
	$(PY) -m ruff check src tests
	$(PY) -m pytest -q

docs: $(TEST_STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

bench: $(TEST_STAMP)
	$(PY) -m pip install -q --disable-pip-version-check -c requirements/constraints.txt \
		torch==2.13.0 -e ".[test,bench,bench-chem]"
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) demo-output bench/out site
