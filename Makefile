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
.PHONY: help setup demo readme-demo test test-all smoke lint check format bench sec52 sec53 sec54 sec55 paper results smoke-paper control benchmark

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

test: setup ## the default test suite (about 100 s on 2 cores: one pytest worker per core)
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

bench: setup ## speed figures: training vs the fp32/bf16 GEMM ceilings (E=1/5, bare steps, fit; fit of the tr, dk, sq families), balanced ensembles, eval, control, smoke-paper
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
# Own budgets (issue 21): the grid again in outputs/sec54_budgets/, 300 steps with 20% of each
# cell's training trajectories held out, snapshots after 10, 30, 100 steps (and the final 300;
# 1,000 steps were 3.3x the equal-budget training, ~2.7 h on 2 cores for 3 keys); per cell the
# budget with the lowest held-out error is the "(own budget)" row. SEC54_BUDGET_GRID narrows it.
SEC54_BUDGETS ?= experiment_name=sec54_budgets train.val_fraction=0.2 train.steps=300 \
	grid.snapshots=[10,30,100]
SEC54_BUDGET_GRID ?= $(SEC54_GRID)
sec54: setup ## paper 5.4: data efficiency grid on the reacher (num_traj x t_range x 5 copies), per-cell baselines, own budgets
	$(TRAJ) experiment=sec54 $(XP) mode=collect
	$(if $(filter true,$(SEC54_BATCHED)),$(TRAJ) experiment=sec54 $(XP) mode=train \
		grid.batched=true $(SEC54_GRID),$(SWEEP) experiment=sec54 $(XP) mode=train $(SEC54_SWEEP))
	$(TRAJ) experiment=sec54 $(XP) mode=eval
	$(TRAJ) experiment=sec54 $(XP) mode=plot
	$(TRAJ) experiment=sec54 $(XP) $(SEC54_BUDGETS) mode=train grid.batched=true $(SEC54_BUDGET_GRID)
	$(TRAJ) experiment=sec54 $(XP) $(SEC54_BUDGETS) mode=eval
	$(TRAJ) experiment=sec54 $(XP) $(SEC54_BUDGETS) mode=plot

sec55: setup ## paper 5.5: reward prediction on cartpole, controllers ranked from common starts (5 keys x 5 seeds, GPs)
	$(TRAJ) experiment=sec55 $(XP) mode=collect
	$(SWEEP) experiment=sec55 $(XP) mode=train
	$(TRAJ) experiment=sec55 $(XP) mode=eval
	$(TRAJ) experiment=sec55 $(XP) mode=plot

# ---- control with learned models (docs/control.md; issues 13 and 22) ----
# Every env runs its ceilings first (mpc_true, model_cma_true: the true system as the model),
# then the learned-model and model-free methods, 10 seeds each (3 at SCALE=toy); kappa x model
# width of the model-based searches is tuned on seeds 1000-1002, never reported
# (conf/experiment/control.yaml).
# SCALE=toy: one tuning seed, two kappa values at the model's width, a small CEM (the experiment file's sizes win
# over scale=toy's, so they are set here)
CONTROL_TOY = control.tune.values=[0.0,1.0] control.tune.hidden=[] control.tune.seeds=[1000] \
	control.mpc.horizon=10 \
	control.mpc.population=25 control.mpc.elites=5 control.mpc.iterations=2
CONTROL = $(SWEEP) experiment=control $(XP) control.report=false $(if $(filter toy,$(SCALE)),$(CONTROL_TOY),)
CONTROL_REPORT = $(TRAJ) experiment=control $(XP) control.report_only=true
CONTROL_SEEDS_TOY = 0,1,2
CONTROL_SEEDS_FULL = 0,1,2,3,4,5,6,7,8,9
CONTROL_SEEDS = $(if $(filter toy,$(SCALE)),$(CONTROL_SEEDS_TOY),$(CONTROL_SEEDS_FULL))
CONTROL_CEILINGS = mpc_true,model_cma_true
CONTROL_FREE = env_cma,env_bo,random,reference
CONTROL_MODEL = model_cma,model_cma_onestep,model_gp
# the benchmark's strongest family (docs/benchmark.md: the 5-step-loss ensemble in closed loop)
# as model_cma_onestep's planning model too, beside de, with its own kappa tuning
CONTROL_BEST ?= dke
# mpc_pets re-plans 200 times per episode batch at the sizes checked on the true system (about
# 1 s per step for 10 episodes on 2 idle cores: scripts/bench_control.py; about 6 min per seed
# on an idle core, 7-18 min shared), 10 seeds like every method; MPC_SEEDS=0,1,2 for a quick look
# (fewer than 5 give no verdict; the table says so)
MPC_SEEDS ?= $(CONTROL_SEEDS)
CONTROL_H = $(if $(filter toy,$(SCALE)),,control.horizon=200)

control: setup ## control study: ceilings, model-based vs model-free, 10 seeds; cartpole, heavy cartpole, crazyflie, reacher
	$(CONTROL) envs=cartpole seed=$(CONTROL_SEEDS) \
		control.method=$(CONTROL_CEILINGS),$(CONTROL_FREE),$(CONTROL_MODEL)
	$(CONTROL) envs=cartpole seed=$(if $(filter toy,$(SCALE)),0,$(MPC_SEEDS)) control.method=mpc_pets
	$(CONTROL) envs=cartpole_heavy seed=$(CONTROL_SEEDS) \
		control.method=$(CONTROL_CEILINGS),$(CONTROL_FREE),$(CONTROL_MODEL)
	$(CONTROL) envs=crazyflie $(CONTROL_H) seed=$(CONTROL_SEEDS) \
		control.method=model_cma_true,model_cma,model_cma_onestep,env_cma,random
	$(CONTROL) envs=cartpole,cartpole_heavy models=$(CONTROL_BEST) seed=$(CONTROL_SEEDS) \
		control.method=model_cma_onestep
	$(CONTROL) envs=crazyflie $(CONTROL_H) models=$(CONTROL_BEST) seed=$(CONTROL_SEEDS) \
		control.method=model_cma_onestep
	$(CONTROL) envs=reacher $(CONTROL_H) seed=$(CONTROL_SEEDS) \
		control.method=model_cma_true,model_cma,random control.cma.popsize=8 control.cma.iterations=8
	$(CONTROL_REPORT) envs=cartpole
	$(CONTROL_REPORT) envs=cartpole_heavy
	$(CONTROL_REPORT) envs=crazyflie
	$(CONTROL_REPORT) envs=reacher

# ---- issue 24: the long-horizon model benchmark (docs/benchmark.md) ----
# Per system (env[:data mode]): collect benchmark.datasets, train every key of the experiment's
# models list (each key's seeds as one batched module), evaluate every (dataset, seed), then the
# leaderboard. SCALE=toy: minutes; SCALE=paper (default): scale=bench, the 2-core sizes;
# SCALE=full: the paper's sizes (LAUNCHER=slurm). BENCH_SETTINGS=paper,tuned adds the tuned
# presets (conf/tuned/<env>/<key>.yaml, written by mode=tune) as rows of their own.
BENCH_SYSTEMS ?= cartpole:stable cartpole:unstable cartpole:periodic reacher crazyflie crazyflie_hw
BENCH_DATA ?= 0,1,2
BENCH_SEEDS ?= 0,1,2,3,4
BENCH_SETTINGS ?= paper
BENCH_XP = $(if $(filter toy,$(SCALE)),scale=toy,$(if $(filter full,$(SCALE)),,scale=bench))
BENCH = experiment=benchmark $(BENCH_XP) benchmark.datasets=[$(BENCH_DATA)] \
	benchmark.seeds=[$(BENCH_SEEDS)] benchmark.settings=[$(BENCH_SETTINGS)]
BENCH_TUNED = tune.preset=tuned

benchmark: setup ## issue 24: every model key x 6 systems x 3 datasets x 5 seeds, leaderboards (SCALE=toy: minutes)
	@set -e; for sys in $(BENCH_SYSTEMS); do \
		env=$${sys%%:*}; o="envs=$$env"; \
		if [ "$$env" != "$$sys" ]; then o="$$o env.data_mode=$${sys#*:}"; fi; \
		if [ "$$env" = crazyflie_hw ]; then o="$$o env.importer.seed=\$${data.seed}"; fi; \
		echo "== benchmark: $$sys"; \
		$(SWEEP) $(BENCH) $$o mode=collect data.seed=$(BENCH_DATA); \
		for s in $$(echo $(BENCH_SETTINGS) | tr , ' '); do \
			t=""; if [ "$$s" = tuned ]; then t="$(BENCH_TUNED)"; fi; \
			$(SWEEP) $(BENCH) $$o $$t mode=train data.seed=$(BENCH_DATA); \
			$(SWEEP) $(BENCH) $$o $$t mode=eval data.seed=$(BENCH_DATA) seed=$(BENCH_SEEDS); \
		done; \
		$(TRAJ) $(BENCH) $$o mode=leaderboard; \
	done

# sec52 first: 5.3's stable mode and 5.5 ask for models 5.2 trains, which the model store
# (train.reuse, paths.models_store) then copies instead of training again; under make -j a job
# asking for a model another job is training waits for it (one lock per fingerprint).
paper: sec52 sec53 sec54 sec55 ## all four sections at paper scale (each distinct model trained once)

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
