# Puncker's entry points. Run as root: containers need it.
.PHONY: build demo test lint bench

# The shipped binary is static and non-PIE: no dynamic loader to run, only
# the libc code it calls, no relocations to apply at start. That took the
# runtime's peak RSS from 4.5 to 3.2 MiB (docs/performance.md). Building
# for an explicit target keeps these flags off the build's proc macros.
HOST := $(shell rustc -vV | sed -n 's/^host: //p')
HOST_ENV := $(shell echo '$(HOST)' | tr 'a-z-' 'A-Z_')
export CARGO_BUILD_TARGET := $(HOST)
export CARGO_TARGET_$(HOST_ENV)_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static
export LIBSECCOMP_LINK_TYPE := static
export LIBSECCOMP_LIB_PATH := $(shell dirname "$$(gcc -print-file-name=libseccomp.a)")
# `puncker --version` prints it on its `commit:` line, as runc does.
export PUNCKER_COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

build:
	cargo build --release
	mkdir -p target/release
	cp target/$(HOST)/release/puncker target/release/puncker

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
