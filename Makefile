# Puncker's entry points. Run as root: containers need it.
.PHONY: build demo test lint bench

build:
	cargo build --release

# Build, make a busybox bundle in demo/ (no Docker, no network) and run it.
demo: build
	bash scripts/demo.sh

# The whole test suite: lint, unit tests, and integration tests that run
# real containers (tests/), each with its own id, state root and bundle.
test: lint
	cargo test --release -- --test-threads=4

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

bench: build
	bash bench/bench.sh
