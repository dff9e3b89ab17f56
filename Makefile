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
.PHONY: help setup demo readme-demo test test-all smoke lint check format bench sec52 sec53 sec54 sec55 paper results smoke-paper control

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
	$(TRAJ) mode=eval experiment=demo models=[d,t]
	$(TRAJ) mode=plot experiment=demo

readme-demo: setup ## rewrite README's demo table from outputs/demo (after make demo)
	$(BIN)/python scripts/readme_demo.py --outputs outputs --readme README.md

smoke: setup ## every mode at toy scale (seconds)
	$(TRAJ) mode=collect experiment=smoke
	$(SWEEP) mode=train experiment=smoke models=d,t
	$(TRAJ) mode=eval experiment=smoke models=[d,t]
	$(TRAJ) mode=plot experiment=smoke

test: setup ## the default test suite (about a minute on 2 cores: one pytest worker per core)
	$(BIN)/python -m pytest -m "not slow and not slurm and not gpu" -n auto --durations=10 -q

test-all: setup ## every test except SLURM and GPU ones
	$(BIN)/python -m pytest -m "not slurm and not gpu" -n auto --durations=10 -q

lint: setup ## ruff
	$(BIN)/ruff check src tests scripts

check: setup ## what CI enforces: ruff format --check, ruff, mypy on src/
	$(BIN)/ruff format --check src tests scripts
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

format: setup ## ruff format + fixes
	$(BIN)/ruff format src tests scripts
	$(BIN)/ruff check --fix src tests scripts

bench: setup ## speed figures: training roofline, precision, balanced ensembles, evaluation, control, smoke-paper
	$(BIN)/python scripts/bench_train.py
	$(BIN)/python scripts/bench_train.py --balance
	$(BIN)/python scripts/bench_collect.py
	$(BIN)/python scripts/bench_eval.py
	$(BIN)/python scripts/bench_control.py
	$(BIN)/python scripts/bench_paper.py

# ---- the paper, one target per section (LAUNCHER=basic|local|slurm; SCALE=toy for minutes) ----
SCALE ?= paper
XP = $(if $(filter toy,$(SCALE)),scale=toy,)
# training sweeps one job per key; eval and plot take the experiment's list (one job per env)
ALL_MODELS := d,de,p,pe,t,te,tp,tpe

sec52: setup ## paper 5.2: long-horizon prediction, 4 systems x 8 models
	$(SWEEP) experiment=sec52 $(XP) mode=collect seed=0
	$(SWEEP) experiment=sec52 $(XP) mode=train models=$(ALL_MODELS)
	$(SWEEP) experiment=sec52 $(XP) mode=eval
	$(SWEEP) experiment=sec52 $(XP) mode=plot seed=0

sec53: setup ## paper 5.3: cartpole stable / unstable / periodic data x 8 models
	$(SWEEP) experiment=sec53 $(XP) mode=collect seed=0
	$(SWEEP) experiment=sec53 $(XP) mode=train models=$(ALL_MODELS)
	$(SWEEP) experiment=sec53 $(XP) mode=eval
	$(SWEEP) experiment=sec53 $(XP) mode=plot seed=0

# 5.4 trains every cell of a model key in one process, as members of batched modules
# (grid.batched=true, lists grid.* in conf/experiment/sec54.yaml); SEC54_BATCHED=false: one job
# per cell through the launcher (the sweep in the same file; SEC54_SWEEP narrows it).
SEC54_BATCHED ?= true
sec54: setup ## paper 5.4: data efficiency grid on the reacher (num_traj x t_range x 5 copies)
	$(TRAJ) experiment=sec54 $(XP) mode=collect
	$(if $(filter true,$(SEC54_BATCHED)),$(TRAJ) experiment=sec54 $(XP) mode=train \
		grid.batched=true $(SEC54_GRID),$(SWEEP) experiment=sec54 $(XP) mode=train $(SEC54_SWEEP))
	$(TRAJ) experiment=sec54 $(XP) mode=eval
	$(TRAJ) experiment=sec54 $(XP) mode=plot

sec55: setup ## paper 5.5: reward prediction on cartpole (t, d, GP, direct NN)
	$(TRAJ) experiment=sec55 $(XP) mode=collect
	$(SWEEP) experiment=sec55 $(XP) mode=train
	$(TRAJ) experiment=sec55 $(XP) mode=eval
	$(TRAJ) experiment=sec55 $(XP) mode=plot

# ---- issue 13: control with learned models (docs/control.md) ----
CONTROL = $(SWEEP) experiment=control $(XP) control.report=false
CONTROL_REPORT = $(TRAJ) experiment=control $(XP) control.report_only=true
CONTROL_CHEAP = model_gp,env_cma,env_bo,random,reference
CONTROL_H = $(if $(filter toy,$(SCALE)),,control.horizon=200)

control: setup ## control with trajectory models: cartpole all methods (5 seeds; mpc_pets 3), crazyflie, reacher
	$(CONTROL) envs=cartpole control.method=$(CONTROL_CHEAP),model_cma,model_cma_onestep
	$(CONTROL) envs=cartpole control.method=mpc_pets seed=0,1,2
	$(CONTROL) envs=crazyflie $(CONTROL_H) control.method=model_cma,env_cma,random seed=0,1,2
	$(CONTROL) envs=reacher $(CONTROL_H) control.method=model_cma,random seed=0,1,2 \
		control.cma.popsize=8 control.cma.iterations=8
	$(CONTROL_REPORT) envs=cartpole
	$(CONTROL_REPORT) envs=crazyflie
	$(CONTROL_REPORT) envs=reacher

paper: sec52 sec53 sec54 sec55 ## all four sections at paper scale

results: setup ## docs/results_tables.md and docs/figures/ from outputs/ (after make paper)
	$(BIN)/python -m trajmbrl.reports outputs --out docs/results_tables.md --figures docs/figures

smoke-paper: ## all four sections at toy scale (minutes)
	$(MAKE) sec52 sec53 sec55 SCALE=toy
	$(MAKE) sec54 SCALE=toy SEC54_GRID="grid.num_traj=[1,3] grid.t_range=[10,20] grid.seeds=[0,1]"

# ---- SLURM (docs/cluster.md) ----
.PHONY: slurm-up slurm-down show-slurm test-slurm

slurm-up: ## start the local single-node SLURM dev cluster (root), then: . /tmp/trajmbrl-slurm/env.sh
	scripts/slurm-local.sh up >/dev/null
	@echo "SLURM is up; in your shell run: . $${SLURM_LOCAL_DIR:-/tmp/trajmbrl-slurm}/env.sh"

slurm-down: ## stop the local SLURM dev cluster (cancels its jobs)
	scripts/slurm-local.sh down

show-slurm: setup ## the launcher settings a LAUNCHER=slurm sweep uses (site values resolved)
	$(TRAJ) hydra/launcher=slurm --cfg all -p hydra.launcher --resolve

test-slurm: setup ## the SLURM tests on the local dev cluster (root; brings it up/down; ~2.5 min)
	scripts/ci-slurm.sh
