# One-command setup and the course's main jobs. A fresh clone needs only `make run` / `make test`:
# the first target that needs Python builds .venv (python3.11 -m venv, falling back to python3),
# installs requirements.txt and this project in editable mode (`utils` importable everywhere);
# it re-installs whenever requirements.txt or pyproject.toml changes (stamp file).
#
#   make            create/refresh .venv only
#   make run        execute every notebook headless into runs/notebooks/, streaming each cell's
#                   output (03's epochs as they finish); rewrites the tracked figures/ in place
#                   (git diff figures/ shows what changed); 03 retrains the primary model
#   make notebooks  re-execute the committed notebooks in place with default parameters
#   make test       ruff, then pytest (unit + papermill smoke) and nbval on notebooks/; figures
#                   the notebooks save go to a temporary folder, so the working tree stays as it was
#   make test-kernels  the kernel-dependent tests again, under scalar/SSE4.1 CPU kernels, on a copy
#                   of the working tree with nothing beside it (what .ci/run adds to make test)
#   make test-lab   end-to-end browser test: notebooks 01, 03, 04 run in a real JupyterLab driven
#                   by headless Chromium (installs Debian's chromium with apt-get when missing)
#   make sweep      multi-seed training sweep (SWEEP_ARGS="--models primary19k --seeds 0 1")
#   make bench      speed benchmark
#   make student    student copies of the notebooks in student/ (solutions replaced, outputs cleared)
#   make lint       ruff only          make clean   remove .venv, runs/ and caches
#
# MNIST: set MNIST_ROOT (e.g. MNIST_ROOT=/data/mnist make test) to use files already on disk,
# otherwise they are downloaded into ./data on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := venv

VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.requirements.stamp
BOOTSTRAP_PYTHON := $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)

NOTEBOOKS := $(sort $(wildcard notebooks/0*.ipynb))
RUNS_DIR := runs/notebooks
PAPERMILL := $(VENV)/bin/papermill -k python3
NBVAL_FLAGS := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# Two pytest-xdist workers; loadscope keeps each notebook's cells (and each test module) in one
# worker, in order. TEST_WORKERS=0 runs everything in one process.
TEST_WORKERS ?= 2
SWEEP_ARGS ?=
CHROMIUM := /usr/bin/chromium

# A relative MNIST_ROOT would otherwise be read from notebooks/ by the kernels: make it absolute.
ifneq ($(strip $(MNIST_ROOT)),)
override MNIST_ROOT := $(abspath $(MNIST_ROOT))
export MNIST_ROOT
endif

.PHONY: venv run notebooks test test-kernels test-lab lint sweep bench student clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@if [ ! -x "$(PYTHON)" ]; then \
	  if [ -z "$(BOOTSTRAP_PYTHON)" ]; then \
	    echo "error: neither python3.11 nor python3 is on PATH; install Python 3.11" >&2; exit 1; \
	  fi; \
	  echo "Creating $(VENV) with $(BOOTSTRAP_PYTHON)"; \
	  "$(BOOTSTRAP_PYTHON)" -m venv $(VENV); \
	fi
	@$(PYTHON) -c 'import sys; sys.version_info[:2] == (3, 11) or print( \
	  "warning: $(VENV) uses Python %d.%d; the pins are tested with 3.11" % sys.version_info[:2])'
	$(PYTHON) -m pip install -r requirements.txt
	$(PYTHON) -m pip install --no-deps --no-build-isolation -e .
	@touch $@

run: $(STAMP)
	@mkdir -p $(RUNS_DIR)
	@set -e; for nb in $(NOTEBOOKS); do \
	  name=$$(basename $$nb); params=""; \
	  case $$name in 03_*) params="-p retrain True";; esac; \
	  echo "=== $$name $$params"; \
	  $(PAPERMILL) --log-output --no-progress-bar --cwd notebooks $$params $$nb $(RUNS_DIR)/$$name; \
	done
	@echo "Executed notebooks: $(RUNS_DIR)/   figures: figures/"

notebooks: $(STAMP)
	@set -e; for nb in $(NOTEBOOKS); do \
	  echo "=== $$nb (in place)"; \
	  $(PAPERMILL) --cwd notebooks $$nb $$nb; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	@figures=$$(mktemp -d); trap 'rm -rf "$$figures"' EXIT; set -x; \
	FIGURES_DIR=$$figures $(VENV)/bin/pytest tests notebooks $(NBVAL_FLAGS) -n $(TEST_WORKERS) --dist loadscope

test-kernels: $(STAMP)
	TEST_WORKERS=$(TEST_WORKERS) bash tests/other_kernels.sh

# The browser test drives Debian's chromium (Playwright's own browser download is not used).
$(CHROMIUM):
	@echo "$(CHROMIUM) is missing: installing Debian's chromium package"
	@if [ "$$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; \
	  else echo "error: installing chromium needs root (apt-get install -y chromium)" >&2; exit 1; fi; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y chromium
	@test -x $(CHROMIUM) || { echo "error: apt-get did not provide $(CHROMIUM)" >&2; exit 1; }

test-lab: $(STAMP) $(CHROMIUM)
	RUN_LAB_TESTS=1 CHROMIUM=$(CHROMIUM) $(VENV)/bin/pytest tests/test_lab.py -p no:cacheprovider

sweep: $(STAMP)
	$(PYTHON) -m utils.experiments.sweep $(SWEEP_ARGS)

bench: $(STAMP)
	$(PYTHON) benchmarks/bench_speed.py

# Student folder: utils/course/student.py (nbgrader's solution markers, no nbgrader install): the
# notebooks without solutions or outputs, GLOSSARY.md, a data README, utils/ and results/.
student: $(STAMP)
	$(PYTHON) -m utils.course.student --out student

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .ipynb_checkpoints -type d -prune -exec rm -rf {} +
