# The two commands: `make run` and `make test` (see README.md).
.PHONY: run test install bench lint

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

install:
	@bash scripts/setup.sh

bench:
	@bash scripts/bench.sh

lint:
	@.venv/bin/ruff check .
