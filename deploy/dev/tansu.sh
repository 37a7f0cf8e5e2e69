#!/usr/bin/env bash
# The Kafka-protocol broker for tests and the embedded launcher: tansu's
# broker, built from deploy/dev/broker (a workspace member) together with the
# launcher in one cargo run, so `just run`, `just demo` and the tests share
# one build of everything. Prints the broker's path (the only stdout line);
# cargo's progress goes to stderr. A first build on an empty cache takes
# about 5 min on 2 cores, a later one about a second.
#   TANSU=/path/to/tansu   use that binary instead (an upstream `tansu` works too)
set -euo pipefail

if [[ -n "${TANSU:-}" && -x "${TANSU}" ]]; then
  echo "$TANSU"
  exit 0
fi

root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
if [[ ! -x "$target/debug/cg-broker" ]]; then
  echo "building the services and the broker (first time: ~550 crates, about 5 min on 2 cores)" >&2
fi
# Both packages in one invocation: cargo unifies their features once, and a
# later `cargo build` of the same pair finds everything fresh.
cargo build --manifest-path "$root/Cargo.toml" -p clustergenie -p cg-broker >&2
echo "$target/debug/cg-broker"
