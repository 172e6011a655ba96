#!/usr/bin/env bash
# Runs the whole suite on SQLite, then on PostgreSQL (with Redis for the shared-state tests).
set -euo pipefail
cd "$(dirname "$0")/.."
npx tsc -p tsconfig.json --noEmit
files=$(find test -name '*.test.ts' | sort)
echo "== SQLite =="
TEST_DB=sqlite node --import tsx --test --test-concurrency=1 $files
echo "== PostgreSQL =="
TEST_DB=postgres node --import tsx --test --test-concurrency=1 $files
