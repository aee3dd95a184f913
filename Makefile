# The things a person does with nobat. Each target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
READY  := $(VENV)/.installed
PROTOS := $(shell find protos -name '*.proto')

.PHONY: run test test-unit test-integration test-component test-e2e protos lint format clean

run: $(READY) gen/.generated
	$(BIN)/python -m stack.run

# Test files run two at a time (TEST_WORKERS), each file's tests on one worker, so that a
# module's stack is started once; `make test TEST_WORKERS=0` runs them one by one.
TEST_WORKERS ?= 2
test: $(READY) gen/.generated
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# One tier at a time (README, "Tests"). Unit tests start no servers and take seconds, in
# one process: workers would each collect everything again and gain nothing.
test-unit: $(READY) gen/.generated
	$(BIN)/python -m pytest -n 0 tests/unit

test-integration: $(READY) gen/.generated
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/integration

test-component: $(READY) gen/.generated
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/component

test-e2e: $(READY) gen/.generated
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile tests/e2e tests/faults

# The generated code and descriptor set in gen/, and the committed OpenAPI document
# (protos/openapi.json) from that descriptor set; `make test` fails while it is stale.
protos: $(READY)
	$(BIN)/python protos/generate.py
	$(BIN)/python protos/openapi.py gen/nobat.binpb
	@touch gen/.generated

lint: $(READY) gen/.generated
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python protos/lint.py
	$(BIN)/python protos/lint.py breaking

format: $(READY)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) gen .pytest_cache .ruff_cache .hypothesis

# Throughput and latency on this machine, not part of `make test` (README, "Benchmark").
# Settings: BENCH_FLOWS=50 make bench, or make bench BENCH_ARGS='--flows 50 --history 0'.
.PHONY: bench
bench: $(READY) gen/.generated
	$(BIN)/python -m bench $(BENCH_ARGS)

# A seeded fault loop over the whole system, then every invariant checked; the same SEED
# replays the same faults (`make test` runs a one-minute one).
SEED ?= $(shell date +%s)
DURATION ?= 600
.PHONY: chaos
chaos: $(READY) gen/.generated
	$(BIN)/python -m tests.faults.chaos --seed $(SEED) --duration $(DURATION)

# The virtualenv, with every pinned dependency and the project itself (editable), plus
# the generated code's folder on the import path.
$(READY): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	echo "$(CURDIR)/gen" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/nobat-generated.pth"
	@touch $@

gen/.generated: $(READY) $(PROTOS) protos/generate.py
	$(BIN)/python protos/generate.py
	@touch $@
