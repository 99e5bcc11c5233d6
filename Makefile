# payoffice: two commands. `make run` starts a demo office; `make test` runs every test on
# SQLite and again on PostgreSQL.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test test-sqlite test-postgresql bench lint install install-test clean

$(VENV)/.stamp-install: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[deploy]"
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install pyproject.toml
	$(PY) -m pip install -q -e ".[test,deploy]"
	touch $@

install: $(VENV)/.stamp-install

install-test: $(VENV)/.stamp-test
	./.ci/system-deps
	$(PY) -m tests.support.emupos  # printer simulator, own Python 3.13 venv in .venv-emupos/

run: install
	$(VENV)/bin/payoffice demo --port $(PORT)

test: install-test
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgresql

test-sqlite:
	PAYOFFICE_TEST_DB=sqlite $(PY) -m pytest

test-postgresql:
	PAYOFFICE_TEST_DB=postgresql $(PY) -m pytest

bench: install-test
	$(PY) -m bench

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check kiosk payments receipts hardware

clean:
	rm -rf $(VENV) instance test-artifacts bench/results
