# One entry point per job; CI runs `make test` through .ci/run.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build demo test api-check bench chaos quality fmt clean libtorch

all: build

## libtorch (torch==2.13.0 from PyPI) for the worker's tch code, into .libtorch/ when missing.
libtorch:
	@scripts/ensure-libtorch.sh

build: libtorch
	$(CARGO) build --release --workspace

## make demo: embedded PostgreSQL, two workers, a batch of operations, a worker killed with -9.
demo: build
	@scripts/ensure-postgres.sh
	@scripts/demo.sh

## make test: every test against a real PostgreSQL (DATABASE_URL, else the embedded cluster), and the
## examples in the crates' docs (nextest does not run those); chromium for the HTML page test, and
## safetensors + numpy (.venv-export/) for the model-export check (cli/tests/model_export.rs).
test: libtorch
	@scripts/ensure-postgres.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-python-export-venv.sh
	@# Every binary first: tests start ktrdr-worker, which execs ktrdr-worker-torch for training,
	@# and cargo builds a package's binary for tests only when that package has integration tests.
	$(CARGO) build --workspace --bins
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast && $(CARGO) test --workspace --doc; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	@scripts/api-check.sh

## make api-check: schemathesis (PyPI, installed into .venv-api/) against `ktrdr serve`'s own OpenAPI
## document — no 5xx, no answer outside its documented schema (scripts/api-check.sh; part of make test).
api-check:
	@scripts/ensure-postgres.sh
	@scripts/api-check.sh

## make bench (ktrdr-bench): queue throughput and pickup latency (with pgbench as the reference), the
## worker binary on the peer queues' workloads with claim latency at 10³…10⁶ pending, then training
## time per epoch (with a plain PyTorch loop as the reference), backtest speed, checkpoint save time,
## overhead and resume latency (scripts/bench.sh), and the research loop's coordination overhead.
bench: build
	@scripts/ensure-postgres.sh
	target/release/ktrdr-bench queue --pgbench
	target/release/ktrdr-bench worker
	target/release/ktrdr-bench research
	@scripts/bench.sh

## make chaos (ktrdr-bench chaos): five minutes of random faults — kill -9, SIGSTOP/CONT (the ticker's
## leader too), SIGTERM, fast and immediate PostgreSQL restarts and an outage of a throw-away cluster —
## over four workers, 12,000 dummies and two trainings, then the queue's contract checked from the
## database; exits non-zero when a check fails. CHAOS_ARGS adds flags (--seed N replays a run's draws,
## --duration S, --workers N). A one-minute run is part of make test (bench/tests/chaos.rs).
chaos: libtorch
	@scripts/ensure-postgres.sh
	$(CARGO) build --release -p ktrdr-bench -p ktrdr-worker -p ktrdr-worker-torch
	target/release/ktrdr-bench chaos $(CHAOS_ARGS)

## make quality: formatting, lints, and the SQL applied to a scratch database by the tests.
quality: libtorch
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
