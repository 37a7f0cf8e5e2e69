# ClusterGenie's one entry point: developers and CI run the same recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Where builds go; CI points this outside the clone so runs share it.
export CARGO_TARGET_DIR := env_var_or_default("CARGO_TARGET_DIR", justfile_directory() / "target")

default:
    @just --list

# Run the whole mesh in one process on SQLite under ./data, with an embedded
# tansu broker and the gateway serving the dashboard on http://127.0.0.1:8080/;
# Ctrl-C stops it. A first run compiles everything (about 5 min on 2 cores,
# cargo's progress shown); later runs start in a few seconds.
run *ARGS: web-build
    #!/usr/bin/env bash
    set -euo pipefail
    broker="$(TANSU= deploy/dev/tansu.sh)"
    export TANSU="${TANSU:-$broker}"
    # The binary cargo just built: `cargo run -p clustergenie` alone would
    # resolve features without the broker and compile shared crates again.
    exec "$CARGO_TARGET_DIR/debug/clustergenie" {{ARGS}}

# The whole story, narrated and timed: a mesh of its own on the demo profile
# (deploy/profiles/demo.toml), or `just demo --gateway URL --token T`.
# Exits non-zero if a step did not happen.
demo *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    broker="$(TANSU= deploy/dev/tansu.sh)"
    export TANSU="${TANSU:-$broker}"
    exec "$CARGO_TARGET_DIR/debug/clustergenie" --config deploy/profiles/demo.toml demo {{ARGS}}

# Build the dashboard (web/dist) that the gateway serves; skipped when
# nothing it is built from changed since.
web-build:
    #!/usr/bin/env bash
    set -euo pipefail
    cd web
    [[ -d node_modules ]] || npm ci --no-audit --no-fund
    if [[ -f dist/index.html && -z "$(find src index.html package.json package-lock.json tsconfig.json \
        vite.config.ts ../proto -newer dist/index.html -not -path 'src/gen/*' -print -quit)" ]]; then
      echo "dashboard: up to date (web/dist)"
      exit 0
    fi
    npm run build

# The dashboard's own checks: types, lint (incl. feature import boundaries), unit tests (Vitest), production build and its size budget.
web-test:
    cd web && npm ci --no-audit --no-fund && npm run typecheck && npm run lint && npm test && npm run build && npm run size

# Every test: the dashboard's, then unit, repository suite on MariaDB and SQLite, gRPC, grpcurl,
# Kafka (tansu), Redis, the browser story (Chromium), shutdown, compose, the Kubernetes manifests, the demo.
test: web-test
    #!/usr/bin/env bash
    set -euo pipefail
    export GRPCURL="$(deploy/dev/test-deps.sh)"
    export TANSU="$(deploy/dev/tansu.sh)"
    just k8s-validate
    # cg-broker (tansu's broker) has no tests; left out, its dependencies do
    # not join the tests' feature resolution.
    cargo test --workspace --exclude cg-broker --no-fail-fast
    # The whole story against a mesh of its own; its exit status counts.
    just demo

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks (release build); results belong in services/provisioning/README.md.
bench *ARGS:
    deploy/dev/test-deps.sh >/dev/null
    cargo bench -p provisioning --bench grpc -- {{ARGS}}

# End-to-end job throughput, latency and CPU per job through Kafka (release builds of the mesh and the broker).
bench-jobs *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    deploy/dev/test-deps.sh >/dev/null
    export TANSU="$(deploy/dev/tansu.sh --release)"
    cargo bench -p e2e --bench jobs -- {{ARGS}}

# Metric history on MariaDB: ingest samples/s (direct and through tansu) and
# QueryMetrics p50/p99 for a 24 h chart over ≥ 1 million stored samples.
bench-monitoring *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    deploy/dev/test-deps.sh >/dev/null
    export TANSU="$(deploy/dev/tansu.sh --release)"
    cargo bench -p monitoring --bench metrics -- {{ARGS}}

# The scaler: breach sample → SCALE job p50/p99 through tansu (e2e), and
# evaluations/s across 1,000 clusters × 3 policies (engine, and with MariaDB).
bench-scaler *ARGS:
    #!/usr/bin/env bash
    set -euo pipefail
    deploy/dev/test-deps.sh >/dev/null
    export TANSU="$(deploy/dev/tansu.sh --release)"
    cargo bench -p scaler --bench evaluate -- {{ARGS}}
    cargo bench -p e2e --bench scaler

# The same RPCs direct vs through the gateway: latency and throughput ratios (release build).
bench-gateway:
    cargo bench -p gateway --bench proxy

# Lint the protobuf contracts with buf (npm's @bufbuild/buf).
proto-lint:
    cd proto && npx --yes @bufbuild/buf lint

# Render the Kubernetes manifests (deploy/k8s) and validate them offline: 1.32 schemas, topics, probes, policies, settings.
k8s-validate:
    deploy/k8s/validate.sh

# Write a git-ignored .env with fresh random passwords for docker compose.
compose-env:
    #!/usr/bin/env bash
    set -euo pipefail
    if [[ -f .env ]]; then echo ".env exists; keeping it"; exit 0; fi
    umask 077
    {
      echo "CLUSTERGENIE_DB_PASSWORD=$(openssl rand -hex 24)"
      echo "MYSQL_ROOT_PASSWORD=$(openssl rand -hex 24)"
    } > .env
    echo "wrote .env"

# The production-like mesh: one container per service plus MySQL, Kafka, Redis, tracing.
compose-up: compose-env
    docker compose up --build

# Diagnosis: rules-only p50/p99 for a 50-droplet cluster with 24 h of metrics,
# and with a fake LLM at a fixed latency (release build).
bench-diagnosis *ARGS:
    cargo bench -p diagnosis --bench diagnose -- {{ARGS}}
