# The README's commands. `make run` needs no server (an embedded PostgreSQL under var/);
# `make test` needs PostgreSQL and Redis.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
export DJANGO_SETTINGS_MODULE ?= config.settings.local
# honcho hands PORT to the web process; the banner prints the same one.
export PORT ?= 8000

.PHONY: run setup test lint format bench bench-earn bench-fanout bench-pages bench-mixed bench-soak bench-checkin bench-import bench-webhooks messages makemessages screenshots clean help

help:
	@echo "make run    - install, start the embedded PostgreSQL, migrate, load the demo,"
	@echo "              start web + Celery worker + beat (Ctrl-C stops all of them)"
	@echo "make test   - install test tools and run the whole suite (PostgreSQL + Redis)"
	@echo "make lint   - ruff, mypy, the import layers (lint-imports), makemigrations --check"
	@echo "make bench  - every benchmark (results in docs/benchmarks.md)"
	@echo "make bench-soak - ten minutes of tills, member pages, campaigns, privacy and beat at once"
	@echo "make bench-checkin - 50 members scan the door poster at once (p95 to the offer)"
	@echo "make bench-import - 100,000 members and 1,000,000 purchase lines from files (vs COPY)"
	@echo "make bench-webhooks - 10,000 events as signed webhooks to a local receiver (vs plain POSTs)"
	@echo "make screenshots - phone screenshots of the member pages (against make run)"
	@echo "make makemessages - refresh the Swedish catalogs (then fill them in, make messages)"
	@echo "make lock   - re-pin requirements/run.txt and dev.txt from pyproject.toml"

# Every install comes from the lock files (exact versions, compiled from pyproject.toml by
# `make lock`): `make run` installs only what the club needs (requirements/run.txt),
# `make test`/`make lint` the dev tools too (requirements/dev.txt); then the club itself,
# without letting pip pick any other version.
$(RUN_STAMP): pyproject.toml requirements/run.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/run.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP) requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

# Re-pin after changing pyproject.toml's dependencies (a test fails until you do): keeps
# every version already pinned that still fits; `make lock UPGRADE=1` takes the newest.
.PHONY: lock
UV_COMPILE = $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	$(UV_COMPILE) --quiet -o requirements/run.txt
	$(UV_COMPILE) --quiet --extra dev -o requirements/dev.txt

# GNU gettext's msgfmt when the machine has it (it also checks the catalogs); else polib.
messages: $(RUN_STAMP)
	@if command -v msgfmt >/dev/null; then \
		$(PY) manage.py compilemessages --ignore=.venv --ignore=var -v 0; \
	else $(PY) scripts/compile_messages.py; fi

# Refresh the Swedish catalogs after changing strings: each app's own, then the shared
# templates' (root locale/). Fill in the new msgstr values, then `make messages`.
APPS := members consent rewards campaigns
makemessages: $(RUN_STAMP)
	@for app in $(APPS); do \
		(cd $$app && mkdir -p locale && PYTHONPATH=$(CURDIR) ../$(VENV)/bin/django-admin \
			makemessages -l sv --no-obsolete -v 0); \
	done
	$(PY) manage.py makemessages -l sv --no-obsolete -v 0 --ignore=.venv --ignore=var \
		$(foreach app,$(APPS),--ignore=$(app)) --ignore=tests --ignore=bench --ignore=scripts

# Without DATABASE_URL these start the embedded PostgreSQL and stop it again at the end.
setup: $(RUN_STAMP) messages
	$(PY) scripts/run.py --setup-only

run: $(RUN_STAMP) messages
	@$(PY) scripts/run.py

# Phone screenshots of the member pages into docs/screenshots/, from a club started by
# `make run` in another terminal (BASE_URL, LANG_CODE=en for the English ones).
screenshots: $(STAMP)
	@bash scripts/ensure_chromium.sh
	$(PY) scripts/screenshots.py

test: $(STAMP) messages
	@$(PY) scripts/check_services.py
	@bash scripts/ensure_chromium.sh
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest -n 2 \
		--durations=30 $(PYTEST_ARGS)

# .pre-commit-config.yaml runs the same commands (keep the two in step).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m mypy .
	$(VENV)/bin/lint-imports
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: bench-earn bench-fanout bench-pages bench-mixed bench-soak bench-checkin bench-import bench-webhooks

bench-earn: $(STAMP)
	@$(PY) scripts/check_services.py
	$(PY) -m bench.earn

bench-fanout: $(STAMP)
	@$(PY) scripts/check_services.py
	$(PY) -m bench.fanout

bench-pages: $(STAMP) messages
	@$(PY) scripts/check_services.py
	$(PY) -m bench.pages

bench-mixed: $(STAMP)
	@$(PY) scripts/check_services.py
	$(PY) -m bench.mixed

bench-soak: $(STAMP) messages
	@$(PY) scripts/check_services.py
	$(PY) -m bench.soak

bench-checkin: $(STAMP) messages
	@$(PY) scripts/check_services.py
	$(PY) -m bench.checkin

bench-import: $(STAMP)
	@$(PY) scripts/check_services.py
	$(PY) -m bench.imports

bench-webhooks: $(STAMP)
	@$(PY) scripts/check_services.py
	$(PY) -m bench.webhooks

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
