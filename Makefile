# The two commands a newcomer needs: `make run` (demo server) and `make test` (whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WALLET := $(VENV)/bin/wallet
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=

.PHONY: install run worker test openapi clean-db

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

## make run: migrate the embedded SQLite database, load the demo data, serve on http://$(HOST):$(PORT)
## (with a push dispatcher thread in the server: the default `log` provider prints each push)
run: install
	$(WALLET) db upgrade
	WALLET_PUBLIC_URL=http://$(HOST):$(PORT) $(WALLET) seed-demo
	WALLET_PUSH_DISPATCHER_THREAD=true $(WALLET) run --host $(HOST) --port $(PORT) --with-threads --no-reload

## make worker: the push dispatcher as its own process, as in production (SIGTERM stops it cleanly)
worker: install
	$(WALLET) worker

## make test: provision PostgreSQL + PostGIS if needed, then run every test (PostGIS and SQLite paths)
test: install
	bash scripts/with_test_postgres.sh $(PY) -m pytest -n 2 $(PYTEST_ARGS)

## make openapi: regenerate openapi/openapi.json from the code
openapi: install
	WALLET_DATABASE_URL=sqlite:// $(WALLET) export-openapi

clean-db:
	rm -f instance/wallet.db instance/wallet.db-wal instance/wallet.db-shm
