# Every target sets itself up: a .venv with the pinned dependencies from uv.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
RUN := $(VENV)/bin
STAMP := $(VENV)/.synced
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo test lint typecheck unit synth bench simulate clean

setup: $(STAMP)

$(STAMP): pyproject.toml uv.lock
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(VENV)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) sync --frozen --inexact --quiet
	@touch $(STAMP)

demo: setup  ## the whole access-key lifecycle, day 0 to 150, against an in-process moto account
	$(RUN)/credlife demo

lint: setup
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .

typecheck: setup
	$(RUN)/mypy

test: setup lint typecheck  ## ruff, mypy and the whole pytest suite
	$(RUN)/pytest -q

unit: setup
	$(RUN)/pytest -q tests/unit

simulate: setup  ## the lifecycle simulation at acceptance size: 200 seeded accounts x 120 days, faults, 2 workers
	CREDLIFE_SIM_ACCOUNTS=$${CREDLIFE_SIM_ACCOUNTS:-200} CREDLIFE_SIM_DAYS=$${CREDLIFE_SIM_DAYS:-120} \
	CREDLIFE_SIM_WORKERS=$${CREDLIFE_SIM_WORKERS:-2} $(RUN)/pytest -q -m simulation tests/simulation -s

synth: setup  ## write the CloudFormation templates to cdk.out (no Docker, no AWS credentials)
	$(RUN)/python app.py

bench: setup  ## API-call and timing figures; also written to bench/results.json and bench/events_results.json
	$(RUN)/python scripts/bench.py
	$(RUN)/python scripts/bench_events.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache
