# Stowage: `make dev` runs the kit locally, `make test` passes the tests (fresh machine OK).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export PYTHONDONTWRITEBYTECODE := 1
# The CDK CLI and jsii run on the Node 22 that package.json pins (the `node` npm package),
# not the machine's node: both have dropped Node 20. Any node >= 18 can run npm ci.
NODE_BIN := $(CURDIR)/node_modules/.bin
CDK := PATH="$(NODE_BIN):$$PATH" JSII_NODE="$(NODE_BIN)/node" $(NODE_BIN)/node node_modules/aws-cdk/bin/cdk

.PHONY: dev studio test lint bench bench-save synth deploy destroy import-retained venv node clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[postgres,infra,dev,local,local-embed]'
	touch $(STAMP)

venv: $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

node: $(NODE_STAMP)

## Run every route of the HTTP API on http://127.0.0.1:4111 (embedded storage, local/echo model).
## SQLite driver auto: vector search in sqlite-vec even where Python's sqlite3 cannot load it.
dev: $(STAMP)
	STOWAGE_SQLITE_DRIVER=$${STOWAGE_SQLITE_DRIVER:-auto} $(PY) -m handlers.local

# Mastra Studio (the `mastra` CLI), playwright-core and Node 22, pinned for `make studio` and
# tests/studio (whose setup runs the same npm ci, and apt-get installs Debian's chromium).
STUDIO_DIR := tests/studio
STUDIO_STAMP := $(STUDIO_DIR)/node_modules/.stowage-lock-sha256
$(STUDIO_STAMP): $(STUDIO_DIR)/package.json $(STUDIO_DIR)/package-lock.json
	cd $(STUDIO_DIR) && npm ci --no-audit --no-fund --loglevel=error
	sha256sum $(STUDIO_DIR)/package-lock.json | cut -d' ' -f1 > $(STUDIO_STAMP)

## Mastra Studio on http://localhost:3000 against `make dev` (run that first, in another shell).
studio: $(STUDIO_STAMP)
	cd $(STUDIO_DIR) && MASTRA_TELEMETRY_DISABLED=1 node_modules/.bin/node node_modules/mastra/dist/index.js studio -s $${STOWAGE_PORT:-4111}

## Lint, then every test (PostgreSQL at 127.0.0.1:5432 is required when CI=true).
# Three pytest processes: the CDK tests (tests/infra) on their own, because aws-cdk-lib's
# jsii runtime keeps ~600 MB of Node heap until the process that imported it exits; and
# the Studio browser test (tests/studio: Chromium, Studio's Node server, the dev server)
# on its own, so the browser's ~1.5 GB never adds to the main suite's ~1.3 GB.
# JOBS=2 (the default) runs the main suite on two pytest-xdist workers: 6.3 minutes on a
# 2-core machine (12.8 in one process, measured with other work running), for a tree peak
# of 2.2 GB instead of 1.8 GB (bench/footprint.py); JOBS=1 suits a smaller machine.
# PYTEST_ARGS adds options to all three (e.g. PYTEST_ARGS=--durations=30); for a subset,
# run .venv/bin/python -m pytest <paths>.
JOBS ?= 2
test: $(STAMP) $(NODE_STAMP) lint
	JSII_NODE="$(NODE_BIN)/node" $(PY) -m pytest -q -p no:cacheprovider \
		$(if $(filter-out 1,$(JOBS)),-n $(JOBS)) --ignore=tests/infra --ignore=tests/studio \
		$(PYTEST_ARGS)
	$(PY) -m pytest -q -p no:cacheprovider tests/studio $(PYTEST_ARGS)
	JSII_NODE="$(NODE_BIN)/node" $(PY) -m pytest -q -p no:cacheprovider tests/infra $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check storage agents handlers infra tests bench
	$(VENV)/bin/mypy storage agents handlers infra

## Request counts, import times, throughput (needs PostgreSQL at 127.0.0.1:5432); results in bench/out/.
bench: $(STAMP) $(NODE_STAMP)
	JSII_NODE="$(NODE_BIN)/node" $(PY) -m bench $(BENCH_ARGS)

## The same, updating the committed results in bench/results/ (review with git diff).
bench-save: $(STAMP) $(NODE_STAMP)
	JSII_NODE="$(NODE_BIN)/node" $(PY) -m bench --save $(BENCH_ARGS)

## CloudFormation into cdk.out/ (pip bundling for aarch64 + cdk-nag; no AWS account needed).
synth: $(STAMP) $(NODE_STAMP)
	$(CDK) synth --quiet $(CDK_ARGS)

## Deploy to the current AWS account/region (CDK_ARGS="-c stage=prod ..."); outputs in cdk.out/outputs.json.
deploy: $(STAMP) $(NODE_STAMP)
	$(CDK) deploy --require-approval never --outputs-file cdk.out/outputs.json $(CDK_ARGS)

destroy: $(STAMP) $(NODE_STAMP)
	$(CDK) destroy --force $(CDK_ARGS)

## After `make destroy` of a stage that keeps its tables (STAGE=prod): adopt them, then `make deploy`.
import-retained: $(STAMP) $(NODE_STAMP)
	test -n "$(STAGE)" || { echo "usage: make import-retained STAGE=<stage>"; exit 2; }
	$(CDK) synth --quiet -c stage=$(STAGE) $(CDK_ARGS)
	$(CDK) import Stowage-$(STAGE) --resource-mapping cdk.out/Stowage-$(STAGE).import.json \
		-c stage=$(STAGE) $(CDK_ARGS)

clean:
	rm -rf $(VENV) node_modules $(STUDIO_DIR)/node_modules cdk.out .pytest_cache .mypy_cache .ruff_cache
