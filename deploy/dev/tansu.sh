#!/usr/bin/env bash
# The Kafka-protocol broker for tests and the embedded launcher: tansu's
# broker, built from deploy/dev/broker (a workspace member) together with the
# launcher in one cargo run, so `just run`, `just demo` and the tests share
# one build of everything. Prints the broker's path (the only stdout line);
# cargo's progress goes to stderr. A first build on an empty cache takes
# about 5 min on 2 cores, a later one about a second.
#   --release              build and print the optimised broker (benchmarks)
#   TANSU=/path/to/tansu   use that binary instead (an upstream `tansu` works,
#                          but holds every fetch for its whole wait: see
#                          deploy/dev/broker/README.md)
set -euo pipefail

if [[ -n "${TANSU:-}" && -x "${TANSU}" ]]; then
  echo "$TANSU"
  exit 0
fi

root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

# Benchmarks measure an optimised broker, built on its own (the tests' debug
# one would be a third of the chain's cost by itself).
if [[ "${1:-}" == "--release" ]]; then
  cargo build --release --manifest-path "$root/Cargo.toml" -p cg-broker >&2
  echo "$target/release/cg-broker"
  exit 0
fi
if [[ ! -x "$target/debug/cg-broker" ]]; then
  echo "building the services and the broker (first time: ~550 crates, about 5 min on 2 cores)" >&2
fi
# Both packages in one invocation: cargo unifies their features once, and a
# later `cargo build` of the same pair finds everything fresh.
cargo build --manifest-path "$root/Cargo.toml" -p clustergenie -p cg-broker >&2
echo "$target/debug/cg-broker"
