# regsearch: two commands do everything on a fresh machine: `make search` and `make test`.
# Each target creates the virtual environment first if it is missing (pip install from
# pyproject.toml), so nothing has to be installed by hand.

PYTHON ?= python3
VENV ?= .venv
SPEC ?= studies/default.toml
BACKEND ?=
TRIALS ?=
WORKERS ?=
STUDY ?= $(SPEC)
OUT ?=
FORMAT ?=
HOST ?= 127.0.0.1
PORT ?= 8080

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install search test test-fast dashboard export summary report bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

search: $(STAMP)
	$(BIN)/regsearch run $(SPEC) $(if $(BACKEND),--backend $(BACKEND)) $(if $(TRIALS),--trials $(TRIALS)) $(if $(WORKERS),--workers $(WORKERS))

# Two test processes (pytest-xdist), a file's tests in one of them so a module's shared study
# is built once: much of the suite waits on subprocesses, heartbeats and one-thread epochs.
test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile -m "not slow"

dashboard: $(STAMP)
	$(BIN)/regsearch dashboard $(STUDY) --host $(HOST) --port $(PORT)

export: $(STAMP)
	$(BIN)/regsearch export $(STUDY) $(if $(BACKEND),--backend $(BACKEND)) $(if $(OUT),-o $(OUT)) $(if $(FORMAT),--format $(FORMAT))

report: $(STAMP)
	$(BIN)/regsearch report $(STUDY) $(if $(BACKEND),--backend $(BACKEND)) $(if $(OUT),-o $(OUT))

summary: $(STAMP)
	$(BIN)/regsearch summary $(STUDY) $(if $(BACKEND),--backend $(BACKEND))

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

bench-quick: $(STAMP)
	$(BIN)/python benchmarks/run.py --quick

clean:
	rm -rf studies/*.db studies/exports studies/reports studies/artifacts studies/keras-tuner
