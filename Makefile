# Two commands on a fresh clone: `make run` serves the dashboard, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test bench install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Sandbox calls cost nothing, so the demo re-checks settled VMs every 10 s instead of every minute.
run: $(STAMP)
	mkdir -p var
	$(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} POLL_SETTLED_INTERVAL=$${POLL_SETTLED_INTERVAL:-10} $(PY) manage.py serve --port $(PORT)

test: $(STAMP)
	mkdir -p var
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	mkdir -p var
	$(PY) -m bench

clean:
	rm -rf $(VENV) var staticfiles
