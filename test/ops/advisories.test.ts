/**
 * ASVS V15.2.1: the advisory check of CI (scripts/advisories.mjs, docs/dependencies.md). npm audit runs for real,
 * against a registry served here on a loopback port that answers the audit with advisories of our choosing: no
 * outside network, the same answer every run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ROOT_DIR, freePort } from '../helpers/cli.js';

/** The check does not depend on the database: it runs in the SQLite halves (Node.js 20 and 22), not again on PostgreSQL. */
const once = { skip: process.env.TEST_DB === 'postgres' && 'the advisory check does not depend on the database' };

type Advisory = { id: number; url: string; title: string; severity: string; vulnerable_versions: string };
const adv = (id: number, severity: string, title: string): Advisory => ({
  id,
  url: `https://github.com/advisories/GHSA-test-${id}-${severity}`,
  title,
  severity,
  vulnerable_versions: '<1000.0.0',
});
const FASTIFY_HIGH = adv(9001, 'high', 'Test: request smuggling in fastify');
/** By package name; a package the audit does not ask about (a development dependency) is never answered. */
const ADVISORIES: Record<string, Advisory[]> = {
  fastify: [FASTIFY_HIGH],
  pg: [adv(9002, 'moderate', 'Test: a moderate one in pg')],
  '@biomejs/biome': [adv(9003, 'critical', 'Test: critical in a development dependency')],
};

/** A registry that answers the bulk audit (or never answers, `hang`); every other request is a 404. */
async function fakeRegistry(mode: 'answer' | 'hang' = 'answer'): Promise<{ url: string; asked: Set<string>; close: () => Promise<void> }> {
  const asked = new Set<string>();
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!req.url?.includes('/security/advisories/bulk')) return res.writeHead(404).end('{}');
      if (mode === 'hang') return;
      const raw = Buffer.concat(chunks);
      const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString()) as Record<string, string[]>;
      for (const n of Object.keys(body)) asked.add(n);
      const out = Object.fromEntries(Object.keys(body).flatMap((n) => (ADVISORIES[n] ? [[n, ADVISORIES[n]]] : [])));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/`,
    asked,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

/** Runs the check against `registry`, with an exceptions file holding `exceptions`. */
async function check(registry: string, exceptions: unknown, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-advisories-'));
  try {
    const exFile = path.join(dir, 'exceptions.json');
    const outFile = path.join(dir, 'out.json');
    writeFileSync(exFile, JSON.stringify(exceptions));
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT_DIR, 'scripts/advisories.mjs'), '--exceptions', exFile, '--out', outFile], {
        cwd: ROOT_DIR,
        env: { ...process.env, npm_config_registry: registry, ...env },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    let summary: Record<string, any> | null = null;
    try {
      summary = JSON.parse(readFileSync(outFile, 'utf8'));
    } catch {
      /* none written */
    }
    return { ...r, summary };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const exception = (expires: string) => ({
  id: 'GHSA-test-9001-high',
  package: 'fastify',
  reason: 'not reachable: we never parse chunked trailers',
  expires,
  recordedBy: 'security@palisade.example',
});

test('advisory check: a high advisory in a production dependency fails CI, and the summary records it [ASVS V15.2.1]', once, async () => {
  const reg = await fakeRegistry();
  try {
    const r = await check(reg.url, []);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL high GHSA-test-9001-high in fastify/);
    assert.match(r.stdout, /FAILED: 1 high or critical/);
    assert.equal(r.summary?.state, 'failed');
    assert.deepEqual(
      r.summary?.failing.map((a: { id: string }) => a.id),
      ['GHSA-test-9001-high'],
    );
    assert.ok(reg.asked.has('fastify') && !reg.asked.has('@biomejs/biome'), 'only production dependencies are audited');
  } finally {
    await reg.close();
  }
});

test('advisory check: an advisory listed with a reason and an unexpired date passes; moderate ones are reported, not failed [ASVS V15.2.1]', once, async () => {
  const reg = await fakeRegistry();
  try {
    const r = await check(reg.url, [exception('2999-12-31')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /excepted high GHSA-test-9001-high in fastify until 2999-12-31: not reachable/);
    assert.match(r.stdout, /moderate GHSA-test-9002-moderate in pg/);
    assert.match(r.stdout, /advisories: passed/);
    assert.equal(r.summary?.state, 'passed');
    assert.equal(r.summary?.counts.moderate, 1);
  } finally {
    await reg.close();
  }
});

test('advisory check: an expired exception no longer excuses the advisory [ASVS V15.2.1]', once, async () => {
  const reg = await fakeRegistry();
  try {
    const r = await check(reg.url, [exception('2000-01-31')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /its exception expired on 2000-01-31/);
    assert.match(r.stdout, /expired exceptions to review: GHSA-test-9001-high/);
  } finally {
    await reg.close();
  }
});

test('advisory check: an exception without a reason or with a bad date is refused [ASVS V15.2.1]', once, async () => {
  const reg = await fakeRegistry();
  try {
    const r = await check(reg.url, [{ id: 'GHSA-x', package: 'fastify', expires: 'soon', recordedBy: 'me', extra: 1 }]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /"reason" is required/);
    assert.match(r.stderr, /"expires" must be a date/);
    assert.match(r.stderr, /unknown key "extra"/);
  } finally {
    await reg.close();
  }
});

test('advisory check: a registry that cannot be reached, or does not answer in time, is said plainly and does not fail [ASVS V15.2.1]', once, async () => {
  const closed = await check(`http://127.0.0.1:${await freePort()}/`, []);
  assert.equal(closed.code, 0, closed.stdout + closed.stderr);
  assert.match(closed.stdout, /NOT CHECKED: the registry could not be reached/);
  assert.equal(closed.summary?.state, 'not-checked');
  const reg = await fakeRegistry('hang');
  try {
    const silent = await check(reg.url, [], { ADVISORIES_TIMEOUT_MS: '3000' });
    assert.equal(silent.code, 0, silent.stdout + silent.stderr);
    assert.match(silent.stdout, /NOT CHECKED/);
  } finally {
    await reg.close();
  }
});
