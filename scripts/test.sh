#!/usr/bin/env bash
# Runs the whole suite on SQLite and on PostgreSQL (with Redis for the shared-state tests), then again on Node 22. The
# runs share no state (each test uses its own SQLite file or PostgreSQL schema, its own Redis key prefix and spare
# ports), so the first two run side by side; each run's output is kept in a file and printed when all have ended.
set -euo pipefail
cd "$(dirname "$0")/.."
# Type-checks and compiles the server into dist/: the tests that spawn the CLI run the compiled one (test/helpers/cli.ts).
npx tsc -p tsconfig.json
export PALISADE_TEST_DIST=1
# The admin UI: Svelte components and their TypeScript (ui/tsconfig.json).
npx svelte-check --tsconfig ui/tsconfig.json --fail-on-warnings
# The import rules of docs/architecture.md (.dependency-cruiser.cjs): no cycle, errors a leaf, nothing
# below HTTP imports it, routes never reach the database, config imports no feature.
npx depcruise src --config .dependency-cruiser.cjs
# Lint and formatting (biome.json): `npm run format` rewrites what the check refuses.
npx biome check
# Known advisories in the production dependencies (docs/dependencies.md): a high or critical one fails unless
# advisory-exceptions.json lists it with a reason and an unexpired date; an unreachable registry is reported, not
# failed; bounded by ADVISORIES_TIMEOUT_MS (30 s). The summary is kept in test-artifacts/advisories.json.
node scripts/advisories.mjs
npx vite build --config ui/vite.config.ts --logLevel warn
# The suite runs as JavaScript compiled one file for one file into .test-build/ (scripts/build-tests.mjs): through tsx
# every test file's process spent ~2 s more CPU loading the server. A single file still runs from source with
# `node --import tsx --test test/....test.ts`.
node scripts/build-tests.mjs
files=$(cd .test-build && find test -name '*.test.js' | sort | sed 's|^|.test-build/|')
# Node 22 runs what can differ between Node.js lines (crypto, TLS, HTTP, streams, the SQLite binding, the CLI, child
# processes); the browser tests, the records and audit logic and the fuzz sweep run on Node 20 only: their code paths
# are the same JavaScript on both, and they are half of the suite's time. So do the features' own CLI files (the CLI
# as a process is test/cli/'s; theirs is the same JavaScript again), the backup schedule and copies to S3, and the
# passphrase rules (backup.test.ts holds the archive's streams and encryption on Node 22): Node 22's run follows the
# SQLite one on the same core, and without them the two end about when the PostgreSQL run does.
files22=$(echo "$files" | grep -v -e '^.test-build/test/ui/' -e '^.test-build/test/records/' -e '^.test-build/test/audit/' -e '/fuzz-openapi\.test\.js$' \
  -e '^.test-build/test/auth/.*/cli\.test\.js$' -e '^.test-build/test/secrets/cli\.test\.js$' \
  -e '^.test-build/test/backup/s3-schedule\.test\.js$' -e '^.test-build/test/backup/passphrase\.test\.js$')
# The suite runs on the Node.js that runs this script (Node 20 on our machines) on SQLite and on PostgreSQL, and on
# Node 22 (scripts/node22.sh) on SQLite: package.json's engines say both.
node22=$(bash scripts/node22.sh)
out=$(mktemp -d)
# scripts/exit-after-tests.mjs: a file whose tests have ended exits, even if a failing test left a server or a timer
# open (a test file that never exits would hold the run until CI's limit).
half() { # label node dialect files [repeat: a second run of what does not depend on the dialect, skipped by such tests]
  local start=$SECONDS rc=0
  echo "== $1: $("$2" --version) on $3"
  PALISADE_TEST_HALF=$1 PALISADE_TEST_REPEAT=${5:+1} TEST_DB=$3 "$2" --enable-source-maps --import ./scripts/exit-after-tests.mjs --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination="$out/$1.log" \
    --test-reporter=./scripts/test-times.mjs --test-reporter-destination="$out/$1.times" \
    --test-reporter=./scripts/asvs-reporter.mjs --test-reporter-destination="$out/$1.asvs" $4 >"$out/$1.stdout" 2>&1 || rc=$?
  echo "$rc" >"$out/$1.rc"
  echo "== $1 ended: exit $rc after $((SECONDS - start)) s"
}
halves=(sqlite postgres node22-sqlite)
# Two suites at a time, one per core: Node 22 follows the SQLite half, which ends first, while PostgreSQL goes on
# (three at once on a 2-core machine push the time-bound tests too far; waiting for both left a core idle).
{
  half sqlite node sqlite "$files"
  half node22-sqlite "$node22" sqlite "$files22" repeat
} &
half postgres node postgres "$files" &
wait
status=0
for h in "${halves[@]}"; do
  echo "== ${h} =="
  cat "$out/$h.stdout" "$out/$h.log"
  [ "$(cat "$out/$h.rc")" = 0 ] || status=1
done
# The slowest files of each half (wall time: loading, hooks and tests), so that CI time stays visible.
for h in "${halves[@]}"; do
  echo "== slowest test files ($h): $(head -1 "$out/$h.times")"
  sed -n 2,11p "$out/$h.times"
done
for h in "${halves[@]}"; do echo "== $h: exit $(cat "$out/$h.rc")"; done
# The ASVS matrix from the results of the tagged tests of every half (scripts/asvs.mjs, docs/asvs.md): a tag naming an
# unknown id or a tagged test that failed fails the run, and so does (--enforce) an applicable level 1 or 2
# requirement with no passing test and no justified not-applicable entry; the matrix is kept in test-artifacts/asvs.md.
echo "== ASVS matrix"
node scripts/asvs.mjs --enforce --out test-artifacts/asvs.md "$out"/*.asvs || status=1
# A failed half's failing tests once more, last: what CI keeps of a run is its end, and each half's own list of
# failures sits in the middle of the output, above the halves printed after it.
for h in "${halves[@]}"; do
  [ "$(cat "$out/$h.rc")" = 0 ] && continue
  echo "== failures ($h, exit $(cat "$out/$h.rc"))"
  # (`|| true`: head closing the pipe early must not end the script before its clean-up and exit status.)
  if grep -q '^✖ failing tests:' "$out/$h.log"; then sed -n '/^✖ failing tests:/,$p' "$out/$h.log" | head -120 || true
  else tail -40 "$out/$h.log"; tail -20 "$out/$h.stdout"; fi
done
rm -rf "$out"
exit $status
