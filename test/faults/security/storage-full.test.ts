// Issue 9: the database's disk is full. On SQLite, `PRAGMA max_page_count` at the current size
// makes every write that needs a new page fail with SQLITE_FULL, as a full disk does; the
// PostgreSQL equivalent (a read-only database) is in postgres-outage.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { makeApp, login, bearer, DIALECT, type TestApp } from '../../helpers/app.js';

const skip = DIALECT !== 'sqlite' ? 'SQLite only (PostgreSQL: postgres-outage.test.ts)' : false;
let t: TestApp;
let admin: string;

before(async () => {
  if (skip) return;
  t = await makeApp();
  admin = (await login(t)).token;
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/admin/collections',
    headers: bearer(admin),
    payload: {
      name: 'notes',
      fields: [
        { name: 'title', type: 'string', required: true },
        { name: 'body', type: 'text' },
      ],
    },
  });
  assert.equal(r.statusCode, 201, r.body);
});
after(async () => {
  await t?.close();
});

const count = async () => {
  const r = await t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers: bearer(admin) });
  assert.equal(r.statusCode, 200, r.body);
  return r.json().items.length as number;
};
const pragma = async (q: string) => (await sql.raw(`PRAGMA ${q}`).execute(t.s.db)).rows[0] as Record<string, number> | undefined;

async function readyz(want: number) {
  // /readyz checks at most once a second.
  let r = await t.app.inject({ method: 'GET', url: '/readyz' });
  for (let i = 0; i < 80 && r.statusCode !== want; i++) {
    await sleep(100);
    r = await t.app.inject({ method: 'GET', url: '/readyz' });
  }
  return r;
}

test('storage full: a write answers 503 STORAGE_UNAVAILABLE with Retry-After, nothing half-written remains, readiness says unwritable; with room again, writes and readiness come back [ASVS V16.5.2, V16.5.3]', {
  skip,
}, async () => {
  assert.equal(await count(), 0);
  const size = (await pragma('page_count'))!.page_count!;
  await pragma(`max_page_count = ${size}`);
  try {
    const big = 'x'.repeat(64 * 1024);
    const w = await t.app.inject({ method: 'POST', url: '/api/collections/notes/records', headers: bearer(admin), payload: { title: 'too big', body: big } });
    assert.equal(w.statusCode, 503, w.body);
    assert.deepEqual(w.json(), { error: { code: 'STORAGE_UNAVAILABLE', message: 'The server cannot store data right now; retry later.' } });
    assert.ok(Number(w.headers['retry-after']) >= 1);
    // An import of several rows, one of them too big: all or nothing.
    const imp = await t.app.inject({
      method: 'POST',
      url: '/api/collections/notes/records/import',
      headers: bearer(admin),
      payload: { records: [{ title: 'a' }, { title: 'b', body: big }] },
    });
    assert.ok(imp.statusCode === 503 || imp.statusCode === 400, imp.body);
    assert.equal(await count(), 0, 'nothing half-written');
    const r = await readyz(503);
    assert.equal(r.statusCode, 503);
    assert.equal(r.json().checks.database, 'unwritable');
    // Reads still work.
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/me', headers: bearer(admin) })).statusCode, 200);
  } finally {
    await pragma('max_page_count = 1073741823');
  }
  const ok = await t.app.inject({
    method: 'POST',
    url: '/api/collections/notes/records',
    headers: bearer(admin),
    payload: { title: 'fits now', body: 'x'.repeat(64 * 1024) },
  });
  assert.equal(ok.statusCode, 201, ok.body);
  assert.equal(await count(), 1);
  const r = await readyz(200);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(r.json().checks.database, 'ok');
});
