#!/usr/bin/env bash
# Runs the whole suite on SQLite, then on PostgreSQL (with Redis for the shared-state tests).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
# The admin UI: Svelte components and their TypeScript (ui/tsconfig.json).
npx svelte-check --tsconfig ui/tsconfig.json --fail-on-warnings
# The import rules of docs/architecture.md (.dependency-cruiser.cjs): no cycle, errors a leaf, nothing
# below HTTP imports it, routes never reach the database, config imports no feature.
npx depcruise src --config .dependency-cruiser.cjs
# Lint and formatting (biome.json): `npm run format` rewrites what the check refuses.
npx biome check
npx vite build --config ui/vite.config.ts --logLevel warn
files=$(find test -name '*.test.ts' | sort)
echo "== SQLite =="
TEST_DB=sqlite node --import tsx --test --test-concurrency=1 $files
echo "== PostgreSQL =="
TEST_DB=postgres node --import tsx --test --test-concurrency=1 $files
