# Two commands are the contract: `make book` and `make test` (see README).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NPC    := $(VENV)/bin/npc
STAMP  := $(VENV)/.installed
# torch 2.13.0 is the CPU build (a newer release would pull a CUDA build of several GB)
TORCH  := torch==2.13.0
# pyradiomics: no wheel for Python 3.11; 3.1.0's sdist lacks its C headers and 3.0.1's setup.py
# imports numpy, so it is built from source against the installed numpy (about 20 s)
RADIOMICS := pyradiomics==3.0.1
PROFILE ?= default

.PHONY: setup browser book run test test-fast bench clean help

help:
	@echo "make book   set up .venv, simulate the default twin, execute every chapter, build _build/html"
	@echo "make test   set up .venv and run the test suite (unit, doctests, chapters on the smoke profile)"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "numpy>=1.26" setuptools wheel
	$(PY) -m pip install --quiet --no-build-isolation "$(RADIOMICS)"
	$(PY) -m pip install --quiet "$(TORCH)" -e ".[dev,torch]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(NPC) run --profile $(PROFILE)

book: run
	$(NPC) book --run runs/$(PROFILE)
	@echo "open _build/html/index.html"

# Debian's chromium for the browser tests (tests/test_calculator_page.py); Playwright never
# downloads a browser of its own. Without apt-get as root the browser tests skip, saying why.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD = 1
browser:
	@if command -v chromium >/dev/null 2>&1; then echo "browser tests: $$(command -v chromium)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium >/dev/null; } || echo "could not install chromium: the browser tests will be skipped"; \
	else echo "no chromium and no apt-get as root: the browser tests will be skipped"; fi

# two pytest-xdist workers, each test file on one worker (its module fixtures built once, its tests in order)
TEST_WORKERS ?= 2
test: setup browser
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not notebooks"

bench: setup
	$(PY) benchmarks/bench_stats.py
	$(PY) benchmarks/bench_train.py

clean:
	rm -rf _build runs
