# Every target sets up what it needs: a fresh clone runs `make demo` or `make test` as is.
SHELL := /bin/bash
.DEFAULT_GOAL := help

export SAM_CLI_TELEMETRY := 0
# Only so the SAM CLI can start offline; nothing here talks to AWS, and deploys use your profile's region.
LOCAL_REGION := us-east-1

PYTHON ?= $(shell scripts/find-python)
VENV := .venv
SAM_VENV := .venv-sam
CHECKOV_VENV := .venv-checkov
DEV := $(VENV)/.installed
SAM := $(SAM_VENV)/.installed
CHECKOV := $(CHECKOV_VENV)/.installed
PY := $(VENV)/bin/python
# sam build needs the runtime's python3.13 on PATH.
SAM_ENV := PATH="$(dir $(PYTHON)):$$PATH" AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-$(LOCAL_REGION)}"

.PHONY: help
help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# find-python has said why on stderr when it found none; stop there, not at a confusing venv error.
.PHONY: python
python:
	@test -n "$(PYTHON)" || { echo "make: no usable Python (see above)" >&2; exit 1; }

$(DEV): requirements-dev.txt enrich_function/requirements.txt pyproject.toml | python
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --editable .
	touch $@

$(SAM): requirements-sam.txt | python
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

$(CHECKOV): requirements-checkov.txt | python
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

.PHONY: venv
venv: $(DEV) $(SAM) $(CHECKOV) ## Create the virtual environments (dev tools; SAM CLI and checkov each on their own)

.PHONY: demo
demo: $(DEV) ## The whole job locally: a day of traffic through the real handler into demo-output/, and its report
	$(VENV)/bin/apigw-logs demo

.PHONY: bench
bench: $(DEV) ## Benchmark the handler (floor, naive, memory, cold start) and the report (100 k and 1 M records); not a test
	$(PY) -m bench.run
	$(PY) -m bench.report

.PHONY: lint
lint: $(DEV) ## ruff: lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

.PHONY: typecheck
typecheck: $(DEV) ## mypy (strict on enrich_function/)
	$(VENV)/bin/mypy

.PHONY: scan
scan: $(CHECKOV) ## checkov security scan of template.yaml (offline; skips are in the template with reasons)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet

.PHONY: test
# The slow steps (sam validate, sam build, checkov) are tests marked `slow`, run once, here; `make scan`
# and `make validate` run them on their own. `make test-fast` leaves them out.
test: $(DEV) $(SAM) $(CHECKOV) lint typecheck ## Lint, type-check, and run every test (checkov and sam build included)
	SAM_CLI="$(abspath $(SAM_VENV))/bin/sam" CFN_LINT="$(abspath $(SAM_VENV))/bin/cfn-lint" SAM_PYTHON_DIR="$(dir $(PYTHON))" \
		CHECKOV="$(abspath $(CHECKOV_VENV))/bin/checkov" $(VENV)/bin/pytest

.PHONY: test-fast
test-fast: $(DEV) ## Every test but the slow ones (sam validate, sam build, checkov), without lint
	$(VENV)/bin/pytest -m "not slow"

.PHONY: validate
validate: $(SAM) ## sam validate --lint and cfn-lint
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint
	$(SAM_VENV)/bin/cfn-lint template.yaml

.PHONY: build
build: $(SAM) ## sam build (python3.13, arm64; no Docker needed)
	$(SAM_ENV) $(SAM_VENV)/bin/sam build

.PHONY: events
events: $(DEV) ## Regenerate events/*.json from cli/apigw_logs/samples.py
	$(PY) -m apigw_logs.samples

.PHONY: lock
lock: ## Re-pin requirements-{dev,sam,checkov}.txt from their .in files
	scripts/lock requirements-dev.in requirements-dev.txt "$(PYTHON)"
	scripts/lock requirements-sam.in requirements-sam.txt "$(PYTHON)"
	scripts/lock requirements-checkov.in requirements-checkov.txt "$(PYTHON)"

.PHONY: clean
clean: ## Remove the virtual environments and build output
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache .hypothesis
