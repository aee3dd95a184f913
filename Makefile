# The things a person does with nobat. Each target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed
# nobat-api (protos/python), the generated code as a package, installed editable over gen/.
API    := $(VENV)/.api-installed
PROTOS := $(shell find protos -name '*.proto')

.PHONY: run test test-unit test-integration test-component test-e2e protos lint format clean lock api-wheel

run: $(READY) $(API)
	$(BIN)/python -m stack.run

# Test files run three at a time (TEST_WORKERS), each file's tests on one worker, so that a
# module's stack is started once; `make test TEST_WORKERS=0` runs them one by one. Three on
# two cores: the stacks mostly wait (measured: 8 min 7 s against 9 min 48 s with two).
TEST_WORKERS ?= 3
test: $(READY) $(API)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# One tier at a time (README, "Tests"). Unit tests start no servers and take seconds, in
# one process: workers would each collect everything again and gain nothing.
test-unit: $(READY) $(API)
	$(BIN)/python -m pytest -n 0 tests/unit

test-integration: $(READY) $(API)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/integration

test-component: $(READY) $(API)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/component

test-e2e: $(READY) $(API)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/e2e tests/faults

# The generated code and descriptor set in gen/, and the committed OpenAPI document
# (protos/openapi.json) from that descriptor set; `make test` fails while it is stale.
protos: $(READY)
	$(BIN)/python protos/generate.py
	$(BIN)/python protos/openapi.py gen/nobat.binpb
	@touch gen/.generated

lint: $(READY) $(API)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python protos/lint.py
	$(BIN)/python protos/lint.py breaking

format: $(READY)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) gen dist .pytest_cache .ruff_cache .mypy_cache .hypothesis

# nobat-api's wheel in dist/, for other Python services: messages, gRPC stubs and their
# .pyi (protos/python/pyproject.toml).
api-wheel: $(API)
	$(BIN)/python -m pip wheel --quiet --no-deps --no-build-isolation ./protos/python -w dist

# requirements.lock (what the image installs) and requirements-dev.lock (what `make`
# installs), every distribution pinned with its hashes, for Python 3.11 and later on any
# platform; the dev lock is held to the runtime lock's versions, so both agree. Run after
# changing pyproject.toml's dependencies (tests/unit/test_locks.py says when).
LOCK := $(BIN)/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock'
lock: $(READY)
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev -c requirements.lock -o requirements-dev.lock

# Throughput and latency on this machine, not part of `make test` (README, "Benchmark").
# Settings: BENCH_FLOWS=50 make bench, or make bench BENCH_ARGS='--flows 50 --history 0'.
.PHONY: bench
bench: $(READY) $(API)
	$(BIN)/python -m bench $(BENCH_ARGS)

# A seeded fault loop over the whole system, then every invariant checked; the same SEED
# replays the same faults (`make test` runs a one-minute one).
SEED ?= $(shell date +%s)
DURATION ?= 600
.PHONY: chaos
chaos: $(READY) $(API)
	$(BIN)/python -m tests.faults.chaos --seed $(SEED) --duration $(DURATION)

# The virtualenv: every dependency from the hashed lock, then the project itself
# (editable) with nothing more. The lock holds setuptools too, so building the editable
# install fetches nothing unhashed (--no-build-isolation).
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
$(READY): pyproject.toml requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes -r requirements-dev.lock
	$(PIP) --no-deps --no-build-isolation -e .
	@touch $@

gen/.generated: $(READY) $(PROTOS) protos/generate.py
	$(BIN)/python protos/generate.py
	@touch $@

# Installed once gen/ exists (setuptools refuses a package without its code); it points
# at gen/ itself, so regenerating needs no reinstall.
$(API): protos/python/pyproject.toml | gen/.generated
	$(PIP) --no-deps --no-build-isolation -e ./protos/python
	@touch $@
