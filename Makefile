# The README's two set-up commands are `make demo` and `make test`; both build .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint system-deps clean-demo bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.demo: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.dev: $(BIN)/python pyproject.toml
	@pkg-config --exists mariadb 2>/dev/null || $(MAKE) --no-print-directory system-deps
	@command -v chromium >/dev/null 2>&1 || $(MAKE) --no-print-directory system-deps \
		|| echo "make: chromium could not be installed; the run page's browser test will be skipped"
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.demo

# mysqlclient (the MariaDB driver the tests use) builds against the MariaDB client headers; the run
# page's test opens it in headless Chromium (Debian's package).
system-deps:
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libmariadb-dev pkg-config chromium >/dev/null

## The main job on the embedded default: migrate the example's SQLite tenants (both ORMs).
demo: $(VENV)/.demo
	$(BIN)/tenant-router migrate --settings clinic.settings --pythonpath examples/clinic

## The whole test suite (SQLite always; PostgreSQL and MariaDB on 127.0.0.1).
test: $(VENV)/.dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python .ci/house.py

## Remove what `make demo` leaves: the example's databases, their lock files and its run journal.
DEMO_DIR ?= examples/clinic
clean-demo:
	rm -f $(DEMO_DIR)/var/*.sqlite3 $(DEMO_DIR)/var/*.tenant-router.lock
	rm -rf $(DEMO_DIR)/.tenant-router
