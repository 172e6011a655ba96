// Issue 9: `palisade config check` warns when the configured Redis keeps no data over a restart,
// and says so when it cannot tell (CONFIG not allowed). Each case runs its own redis-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { cli } from '../../helpers/cli.js';
import { startRedis } from '../deps.js';

async function check(url: string) {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-cfg-'));
  try {
    return await cli(['config', 'check'], { DATA_DIR: dir, APP_KEY: randomBytes(32).toString('base64url'), REDIS_URL: url });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('config check: a Redis without persistence gets a warning; with the append-only file, none', async () => {
  const r = await startRedis();
  try {
    const none = await check(r.url);
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stderr, /warning: the configured Redis has no persistence/);
    const c = new Redis(r.url);
    await c.config('SET', 'appendonly', 'yes');
    c.disconnect();
    const aof = await check(r.url);
    assert.equal(aof.code, 0, aof.stderr);
    assert.doesNotMatch(aof.stderr, /warning/);
    assert.match(aof.stdout, /Redis persistence: appendonly yes/);
  } finally {
    await r.close();
  }
});

test('config check: when CONFIG is not allowed, it says persistence could not be verified', async () => {
  const r = await startRedis(['--rename-command', 'CONFIG', '']);
  try {
    const res = await check(r.url);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /warning: Redis persistence could not be verified/);
  } finally {
    await r.close();
  }
});
