# Stowage: `make dev` runs the kit locally, `make test` passes the tests (fresh machine OK).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: dev test lint bench bench-save synth deploy destroy venv node clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[postgres,infra,dev]'
	touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

## Run every route of the HTTP API on http://127.0.0.1:4111 (embedded storage, local/echo model).
dev: $(STAMP)
	$(PY) -m handlers.local

## Lint, then every test (PostgreSQL at 127.0.0.1:5432 is required when CI=true).
# Two pytest processes: the CDK tests (tests/infra) on their own, because aws-cdk-lib's
# jsii runtime keeps ~600 MB of Node heap until the process that imported it exits.
# JOBS=2 runs the first with two pytest-xdist workers: half the wall time on an idle
# 2-core machine, +0.4 GB at the peak (measured: 1.4 GB instead of 1.0 GB).
# PYTEST_ARGS adds options to both (e.g. PYTEST_ARGS=--durations=30); for a subset, run
# .venv/bin/python -m pytest <paths>.
JOBS ?= 1
test: $(STAMP) $(NODE_STAMP) lint
	$(PY) -m pytest -q -p no:cacheprovider $(if $(filter-out 1,$(JOBS)),-n $(JOBS)) \
		--ignore=tests/infra $(PYTEST_ARGS)
	$(PY) -m pytest -q -p no:cacheprovider tests/infra $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check storage agents handlers infra tests bench
	$(VENV)/bin/mypy storage agents handlers infra

## Request counts, import times, throughput (needs PostgreSQL at 127.0.0.1:5432); results in bench/out/.
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## The same, updating the committed results in bench/results/ (review with git diff).
bench-save: $(STAMP)
	$(PY) -m bench --save $(BENCH_ARGS)

## CloudFormation into cdk.out/ (pip bundling for aarch64 + cdk-nag; no AWS account needed).
synth: $(STAMP) $(NODE_STAMP)
	npx cdk synth --quiet $(CDK_ARGS)

## Deploy to the current AWS account/region (CDK_ARGS="-c stage=prod ..."); outputs in cdk.out/outputs.json.
deploy: $(STAMP) $(NODE_STAMP)
	npx cdk deploy --require-approval never --outputs-file cdk.out/outputs.json $(CDK_ARGS)

destroy: $(STAMP) $(NODE_STAMP)
	npx cdk destroy --force $(CDK_ARGS)

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
