# The two commands: `make run` and `make test` (see README.md).
.PHONY: run test install bench bench-peers lint chaos load cluster

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

install:
	@bash scripts/setup.sh

bench:
	@bash scripts/bench.sh

# Forwardpass against BentoML on the same model, texts, client and machine (docs/perf/README.md).
bench-peers:
	@bash scripts/bench_peers.sh

# ruff, then mypy on what pyproject.toml's [tool.mypy] names
lint:
	@bash scripts/lint.sh

# Faults and load on a stack of the suite's own (docs/chaos.md): ARGS=--long for the long runs.
chaos:
	@bash scripts/chaos.sh $(ARGS)

load:
	@bash scripts/load.sh $(ARGS)

# The README's deployment out of network namespaces, one worker host cut off mid-load (root; docs/chaos.md).
cluster:
	@bash scripts/cluster.sh $(ARGS)
