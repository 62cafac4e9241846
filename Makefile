# Reproduction suite for Helwegen et al., "Latent Weights Do Not Exist" (NeurIPS 2019).
# Targets map onto the paper's sections; `make help` lists them.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
SCALE ?= paper
DATA_DIR ?= $(HOME)/tensorflow_datasets
CIFAR10_ARCHIVE ?=
IMAGENET_DIR ?=
IMAGENET_SAMPLE ?= ../shared/data/imagenet-sample/imagenet-sample-100.tar
# the experiment `make imagenet-smoke` trains at its tiny scale (any ImageNet experiment)
SMOKE_EXPERIMENT ?= sec53_birealnet
RUN_ARGS ?=
# Runs side by side: WORKERS=N pinned worker processes (auto: one per core when two or
# more runs are pending and no GPU is visible; 1: one run after another on every core).
WORKERS ?=
VERBOSE ?=
# larq needs Keras 2; the suite's own modules also set this before importing TensorFlow.
export TF_USE_LEGACY_KERAS := 1
export PYTHONHASHSEED := 0
export PYTHONUNBUFFERED := 1
# VERBOSE=1 shows TensorFlow's C++ start-up lines, which the suite hides by default.
export BNN_VERBOSE := $(VERBOSE)

POOL_ARGS := $(if $(WORKERS),workers=$(WORKERS))
DATA_ARGS := data_dir=$(DATA_DIR) $(if $(CIFAR10_ARCHIVE),dataset.archive=$(abspath $(CIFAR10_ARCHIVE)))
IMAGENET_ARGS := data_dir=$(DATA_DIR) $(if $(IMAGENET_DIR),dataset.manual_dir=$(abspath $(IMAGENET_DIR)))

# Experiment groups (GROUPS in configs/__init__.py): one target per group, named as the
# group with - for _ (`make cifar10-quick` runs group cifar10_quick); `make help` shows
# each target's group. RUN_GROUP derives the group from the target's name.
GROUP_TARGETS := cifar10 cifar10-quick cifar10-long sec51 sec52 sec52-init sec3 beyond \
                 beyond-quick beyond-imagenet imagenet
RUN_GROUP = $(PY) -m experiments run-group $(subst -,_,$@) $(POOL_ARGS)

.PHONY: help install lock test test-fast remake remake-reference sweep imagenet-smoke report \
        figures bench bench-workers bench-bf16 bench-imagenet gpu-hours gpu-check list clean-venv inertia run-beyond export \
        $(GROUP_TARGETS)

help:  ## List the targets, and the experiment group each one runs (bnn run-group NAME)
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | while IFS= read -r line; do \
	  target=$${line%%:*}; text=$${line#*## }; \
	  case " $(GROUP_TARGETS) " in *" $$target "*) text="$$text [group $$(echo $$target | tr - _)]";; esac; \
	  printf '%-18s %s\n' "$$target" "$$text"; done

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip==24.3.1
	$(PY) -m pip install --quiet --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m pip check
	touch $@

install: $(VENV)/.installed  ## Create .venv from the exact pins in requirements.lock

lock:  ## Re-resolve requirements.in into requirements.lock (needs network)
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements.in
	.venv-lock/bin/pip freeze --all --exclude-editable | grep -v "^\(pip\|setuptools\)==" > requirements.lock
	rm -rf .venv-lock

test: install  ## Every test: tiny data, real CIFAR-10, 100 real ImageNet JPEGs, the process-starting ones
	$(PY) -m pytest -q --durations=15 tests

test-fast: install  ## The everyday loop: the tests not marked slow (no processes, no real data)
	$(PY) -m pytest -q -m "not slow" tests

list: install  ## List every experiment, group, tuned comparison and sweep
	$(PY) -m experiments list

cifar10: install  ## §5.1 + §5.2 on CIFAR-10 (SCALE=paper|quick; resumes, skips finished runs)
	$(RUN_GROUP) scale=$(SCALE) $(DATA_ARGS) $(RUN_ARGS)

cifar10-quick: install  ## Reduced CPU scale: §5.1 x 3 seeds + §5.2 tuned on a holdout, 3 seeds
	$(RUN_GROUP) $(DATA_ARGS) $(RUN_ARGS)

cifar10-long: install  ## Longer horizons: §5.1 at 30 epochs x 3 seeds, and the §5.2 horizon ladder (8/16/32/64 epochs, each tuned; resumable, SHARD=i/n)
	$(RUN_GROUP) $(if $(SHARD),shard=$(SHARD)) $(DATA_ARGS) $(RUN_ARGS)

beyond: install  ## Beyond the paper: Bop2ndOrder's CIFAR-10 presets (biased, unbiased) and BayesBiNN on its own network (SCALE=paper|quick)
	$(RUN_GROUP) scale=$(SCALE) $(DATA_ARGS) $(RUN_ARGS)

run-beyond: beyond  ## The same as beyond (its former name)

beyond-quick: install  ## Bop2ndOrder's two arms (biased, unbiased) of the tuned §5.2 comparison (Bop's grid size, 3 seeds)
	$(RUN_GROUP) $(DATA_ARGS) $(RUN_ARGS)

beyond-imagenet: install  ## Bop2ndOrder's ImageNet preset on XNOR-Net and Bi-Real Net (SCALE=paper|quick; IMAGENET_DIR as for imagenet)
	$(RUN_GROUP) scale=$(SCALE) $(IMAGENET_ARGS) $(RUN_ARGS)

sweep: install  ## A declared sweep over workers: SWEEP=sec51_map [SHARD=i/n] (start it on every worker)
	$(PY) -m experiments sweep $(SWEEP) $(if $(SHARD),shard=$(SHARD)) $(POOL_ARGS) $(DATA_ARGS) $(RUN_ARGS)

sec52-init: install  ## §5.2 baseline init: U[-1,1] (Courbariaux) vs Glorot, 3 seeds each at quick scale
	$(RUN_GROUP) $(DATA_ARGS) $(RUN_ARGS)

sec51: install  ## §5.1 gamma/tau ablation only (Figure 1; SCALE=paper|quick)
	$(RUN_GROUP) scale=$(SCALE) $(DATA_ARGS) $(RUN_ARGS)

sec52: install  ## §5.2 Bop vs latent-weight Adam only (Figure 2; SCALE=paper|quick)
	$(RUN_GROUP) scale=$(SCALE) $(DATA_ARGS) $(RUN_ARGS)

sec3: install  ## §3 inertia experiments, 3 seeds, quick scale unless SCALE= is given
	$(RUN_GROUP) $(if $(filter command line,$(origin SCALE)),scale=$(SCALE)) $(DATA_ARGS) $(RUN_ARGS)

inertia: sec3  ## The same as sec3 (§3, "latent weights are inertia")

imagenet: install  ## §5.3: Bop and latent Adam on Binary AlexNet, XNOR-Net, Bi-Real Net (SCALE=paper|quick; IMAGENET_DIR=the folder with the ILSVRC2012 tars)
	$(RUN_GROUP) scale=$(SCALE) $(IMAGENET_ARGS) $(RUN_ARGS)

imagenet-smoke: install  ## One tiny ImageNet run end to end on the 100-JPEG sample (-> .smoke/; SMOKE_EXPERIMENT=sec53_birealnet)
	$(PY) -m scripts.imagenet_smoke --sample $(IMAGENET_SAMPLE) --work .smoke --experiment $(SMOKE_EXPERIMENT)

figures: install  ## The paper's figures from the runs -> results/figures/ (RUN=a run folder: its flip heatmap -> results/figures/flips/)
	$(PY) -m scripts.figures --runs results/runs --out results/figures $(if $(RUN),--run $(RUN))

remake: install  ## Re-make a committed run here and compare: RUN=results/runs/<experiment>/<run-id>
	$(if $(RUN),,$(error give RUN=, a committed run folder, e.g. RUN=results/runs/sec51_tau_0/quick-seed0-...))
	$(PY) -m experiments remake $(RUN) $(DATA_ARGS) $(if $(IMAGENET_DIR),dataset.manual_dir=$(abspath $(IMAGENET_DIR)))

export: install  ## A finished run as a verified larq-compute-engine model: RUN=a run folder with checkpoints (a committed one: make remake RUN=... first) -> RUN/model.tflite + results/deploy/
	$(if $(RUN),,$(error give RUN=, a run folder with checkpoints, e.g. RUN=.remake/runs/sec52_bop/quick-seed0-...))
	$(PY) -m experiments export $(RUN) data_dir=$(DATA_DIR)

remake-reference: install  ## The re-make reference's 8 seeds on this machine -> results/remade/$(NAME)/ (NAME=a name for this machine)
	$(if $(NAME),,$(error give NAME=, a name for this machine's set, e.g. NAME=epyc-zen4-2core))
	$(PY) -m experiments sweep remake_reference results_dir=results/remade/$(NAME) $(POOL_ARGS) $(DATA_ARGS)

report: install  ## Runs vs the paper's numbers -> results/REPORT.md and its figures (the same bytes from the same runs)
	$(PY) -m scripts.figures --runs results/runs --out results/figures
	$(PY) -m scripts.report --runs results/runs --reported results/reported.yaml --out results/REPORT.md

bench: install  ## Training and input-pipeline throughput, CIFAR-10 + ImageNet + mixed precision vs float32 + workers -> results/bench.json
	$(PY) -m scripts.bench --out results/bench.json $(DATA_ARGS)

bench-workers: install  ## Workers part only: N pinned worker processes vs one process on all cores (long bf16 and quick float32) -> results/bench.json
	$(PY) -m scripts.bench --only workers --out results/bench.json $(DATA_ARGS)

bench-bf16: install  ## bf16 part only: mixed_bfloat16 on a CPU without bf16 hardware, float32 contractions vs TensorFlow's own kernels and vs float32 -> results/bench.json
	$(PY) -m scripts.bench --only bf16 --out results/bench.json $(DATA_ARGS)

bench-imagenet: install  ## ImageNet part only -> results/bench.json
	$(PY) -m scripts.bench --only imagenet --out results/bench.json data_dir=$(DATA_DIR)

gpu-hours: install  ## ESTIMATED GPU time of the §5.3 runs from MAC counts (PRECISION=float32|tf32|mixed_bfloat16|mixed_float16) -> results/gpu_hours.json
	$(PY) -m scripts.gpu_hours --out results/gpu_hours.json $(if $(PRECISION),--precision $(PRECISION)) $(if $(TFLOPS),--sustained-tflops $(TFLOPS))

gpu-check: install  ## GPU machines only, < 10 min: step time in float32/TF32/bf16/fp16 x XLA + 200 real §5.2 steps -> results/gpu_check.json (commit it)
	$(PY) -m scripts.gpu_check --out results/gpu_check.json $(if $(BUDGET),--budget-s $(BUDGET)) $(DATA_ARGS)

clean-venv:
	rm -rf $(VENV)
