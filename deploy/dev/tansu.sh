#!/usr/bin/env bash
# tansu, the Kafka-protocol broker used by tests and the embedded launcher
# when no Kafka runs. Installs it once into a cache (10–15 min on 2 cores),
# then prints its path (the only line on stdout).
#   TANSU=/path/to/tansu   use that binary instead
set -euo pipefail

cache="${CLUSTERGENIE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clustergenie}"
version="${TANSU_VERSION:-}"
bin="$cache/tansu/bin/tansu"

if [[ -n "${TANSU:-}" && -x "${TANSU}" ]]; then
  echo "$TANSU"
  exit 0
fi
if [[ ! -x "$bin" ]]; then
  echo "tansu: installing into $cache/tansu (one-time, ~15 min)" >&2
  mkdir -p "$cache/tansu"
  # --locked: tansu's own lock file; newer dependency versions break its build.
  cargo install tansu ${version:+--version "$version"} --locked \
    --features dynostore,libsql --root "$cache/tansu" >&2
fi
echo "$bin"
