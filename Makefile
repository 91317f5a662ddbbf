# The two commands a newcomer needs: `make run` (demo server) and `make test` (whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
WALLET := $(VENV)/bin/wallet
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
# The local server's own secret, made once (random, mode 0600) by wallet/local_secret.py; every
# command of a target gets it as WALLET_SECRET_KEY (a shell variable: it never shows in `ps`).
SECRET_FILE ?= instance/secret_key
WITH_LOCAL_SECRET = WALLET_SECRET_KEY="$$($(PY) -m wallet.local_secret $(SECRET_FILE))" && export WALLET_SECRET_KEY

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
	$(WITH_LOCAL_SECRET) && \
	$(WALLET) db upgrade && \
	WALLET_PUBLIC_URL=http://$(HOST):$(PORT) $(WALLET) seed-demo && \
	WALLET_PUSH_DISPATCHER_THREAD=true exec $(WALLET) run --host $(HOST) --port $(PORT) --with-threads --no-reload

## make worker: the push dispatcher as its own process, as in production (SIGTERM stops it cleanly)
worker: install
	$(WITH_LOCAL_SECRET) && exec $(WALLET) worker

## make test: provision PostgreSQL + PostGIS if needed, then run every test (PostGIS and SQLite paths)
test: install
	bash scripts/with_test_postgres.sh $(PY) -m pytest -n 2 $(PYTEST_ARGS)

## make openapi: regenerate openapi/openapi.json and docs/errors.md (the error reasons) from the code
openapi: install
	WALLET_DATABASE_URL=sqlite:// $(WALLET) export-openapi
	WALLET_DATABASE_URL=sqlite:// $(WALLET) export-errors

clean-db:
	rm -f instance/wallet.db instance/wallet.db-wal instance/wallet.db-shm
