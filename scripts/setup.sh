#!/usr/bin/env bash
# Everything `npm test` and `npm run demo` need on a fresh Debian/Ubuntu machine, idempotent and
# quick when already done: PostgreSQL 15 + pgvector (install-deps.sh), PostgreSQL 17 + pgvector in
# .tools/ (test/versions.test.ts runs the scenario suite on it) and node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --postgres 17

# npm ci when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing node modules (npm ci)" >&2
  npm ci --no-audit --no-fund
fi
