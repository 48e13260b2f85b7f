# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ROWS   ?= 200000
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: demo test matrix bench lint format clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.demo: pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ./client -e ".[demo]"
	touch $@

$(VENV)/.test: pyproject.toml client/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ./client -e ".[test]"
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	@case "$$DATABASE_URL" in mysql*) $(BIN)/pip install --quiet -e ".[mysql]";; esac
	$(BIN)/python manage.py create_database
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py seed_demo --rows $(ROWS)
	$(BIN)/python manage.py demo_help --base-url http://$(HOST):$(PORT)
	exec $(BIN)/uvicorn project.asgi:application --host $(HOST) --port $(PORT) --no-access-log

# SQLite always; PostgreSQL too when DATABASE_URL points at it, then MariaDB when MARIADB_URL
# does. tests/ runs on its own settings (tests.settings); the demo project's tests on the demo's.
# A pytest-xdist worker a core, each with its own test database and servers; the load tests
# (PostgreSQL and MariaDB) after them, alone (exit 5: PYTEST_ARGS selected none of them).
# The tests marked once (deploy's templates and stubs: no database) run on SQLite only.
DEMO_TESTS := project/tests --ds=project.settings
DEMO_AGAIN := $(DEMO_TESTS) -m "not once"
XDIST      := -n auto --maxprocesses 4 --dist loadscope
PARALLEL   := $(XDIST) -m "not load"
AGAIN      := $(XDIST) -m "not load and not once"
LOAD_TESTS := $(BIN)/pytest -m load $(PYTEST_ARGS) || [ $$? -eq 5 ]
test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	$(BIN)/mypy
	env -u DATABASE_URL $(BIN)/pytest $(PARALLEL) $(PYTEST_ARGS)
	env -u DATABASE_URL $(BIN)/pytest $(DEMO_TESTS)
	@if [ -n "$$DATABASE_URL" ]; then echo "== again on $$DATABASE_URL"; $(BIN)/pytest $(AGAIN) $(PYTEST_ARGS) && { $(LOAD_TESTS); } && $(BIN)/pytest $(DEMO_AGAIN); fi
	@if [ -n "$$MARIADB_URL" ]; then echo "== again on $$MARIADB_URL"; $(BIN)/pip install --quiet -e ".[mysql]"; export DATABASE_URL=$$MARIADB_URL; $(BIN)/pytest $(AGAIN) $(PYTEST_ARGS) && { $(LOAD_TESTS); } && $(BIN)/pytest $(DEMO_AGAIN); fi

# The version matrix (noxfile.py): every (Python, Django) pair, the subset, the wheel and a
# fresh project on each Django. `make matrix NOX="-s wheel"` picks sessions; `-l` lists them.
matrix: $(VENV)/.test
	$(BIN)/nox $(NOX)

# Every contender side by side on PostgreSQL: ROWS (1,000,000 here), REPEAT, SKIP_SLOW=1,
# SSE_STREAMS, COLD_STARTS, COLD_BASELINE, COLD_PACKAGES=0, as make variables or environment
# (bench/README.md); then partitioned jobs on Celery workers (PARTITION_BENCH_ROWS, 10,000,000).
$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[bench]"
	touch $@

bench: $(VENV)/.bench
	ROWS=$(if $(filter file,$(origin ROWS)),1000000,$(ROWS)) $(BIN)/python -m bench
	$(BIN)/python -m bench.partitions --rows $(or $(PARTITION_BENCH_ROWS),10000000)

# The documentation site (Sphinx): docs/_build/html/index.html.
.PHONY: docs
docs: $(VENV)/.test
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

lint: $(VENV)/.test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 .test_db*.sqlite3 media staticfiles
