import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { ROOT_DIR } from '../helpers/cli.js';

// The container image (OPS-3), built with buildah and run as its non-root user on a read-only root filesystem by
// scripts/container-test.sh (what it proves is listed at its top). scripts/test.sh runs every test file on SQLite and
// on PostgreSQL, and on SQLite again with Node 22, each half naming itself in PALISADE_TEST_HALF; the image depends on
// none of them, so it is built once per run, in the PostgreSQL half (the SQLite half is followed by Node 22's on the
// same core, the longer of the two paths), and the others skip this file. Run alone, the file always builds it.
const installed = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

function skipReason(): string | false {
  const half = process.env.PALISADE_TEST_HALF;
  if (half !== undefined && half !== 'postgres')
    return 'the image depends on neither the database nor the Node.js running the tests: it is built once, in the PostgreSQL half';
  if (!installed('buildah') || !installed('skopeo')) return "buildah or skopeo is not installed (.ci/run installs Debian's packages)";
  if (process.getuid?.() !== 0) return 'needs root: the image is run in its own mount and PID namespaces';
  return false;
}

test('container image: built from the Containerfile, runs as non-root on a read-only root, answers, stops on SIGTERM [ASVS V13.4.1, V13.4.2, V15.2.3, V13.3.1]', {
  skip: skipReason(),
  timeout: 20 * 60_000,
}, async (t) => {
  const child = spawn('bash', ['scripts/container-test.sh'], { cwd: ROOT_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  // The script's summary (build time, image size, what passed) in the test report.
  for (const line of out.split('\n')) if (line.startsWith('container-test: ')) t.diagnostic(line.slice('container-test: '.length));
  assert.equal(code, 0, out.slice(-8000));
  assert.match(out, /container-test: PASS/);
});
