# trajmbrl: `make demo` (the main job) and `make test` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAUNCHER ?= basic
export MUJOCO_GL ?= egl
TRAJ := $(BIN)/trajmbrl
SWEEP := $(BIN)/trajmbrl -m hydra/launcher=$(LAUNCHER)

.DEFAULT_GOAL := help
.PHONY: help setup demo test test-all smoke lint format bench clean-demo

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv (Python 3.11, exact pins from constraints.txt)

demo: setup ## the main job: cartpole, one-step d vs trajectory t, table + figure (minutes)
	$(TRAJ) mode=collect experiment=demo
	$(SWEEP) mode=train experiment=demo models=d,t
	$(TRAJ) mode=eval experiment=demo eval.models=[d,t]
	$(TRAJ) mode=plot experiment=demo

smoke: setup ## every mode at toy scale (seconds)
	$(TRAJ) mode=collect experiment=smoke
	$(SWEEP) mode=train experiment=smoke models=d,t
	$(TRAJ) mode=eval experiment=smoke eval.models=[d,t]
	$(TRAJ) mode=plot experiment=smoke

test: setup ## the default test suite (about a minute on 2 cores)
	$(BIN)/python -m pytest -m "not slow and not slurm and not gpu" --durations=10 -q

test-all: setup ## every test except SLURM and GPU ones
	$(BIN)/python -m pytest -m "not slurm and not gpu" --durations=10 -q

lint: setup ## ruff
	$(BIN)/ruff check src tests scripts

format: setup ## ruff format + fixes
	$(BIN)/ruff check --fix src tests scripts

bench: setup ## speed figures: training roofline, evaluation, collection
	$(BIN)/python scripts/bench_train.py
