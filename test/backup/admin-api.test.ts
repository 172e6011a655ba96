// Backups over HTTP (DATA-2): GET and POST /api/admin/backups. Administrators only; a backup now is listed, recorded
// as backup.created and pruned by the retention; unknown body fields and a missing passphrase are refused; no answer
// carries the passphrase or a path on the server.
import { deploymentOf } from '../../src/backup/names.js';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { bearer, createUser, events, login, useApp, type TestApp } from '../helpers/app.js';

const PASSPHRASE = 'a long backup passphrase 7';
const PW = 'Violet-staple-Quartz-91';

describe('admin API: backups, configured', () => {
  let t: TestApp;
  let admin: string;
  let user: string;
  useApp(
    async (app, token) => {
      t = app;
      admin = token;
      await createUser(t, admin, 'bob', PW);
      user = (await login(t, 'bob', PW)).token;
    },
    { env: { BACKUP_PASSPHRASE: PASSPHRASE, BACKUP_SCHEDULE: '0 3 * * *', BACKUP_KEEP_DAILY: '3', BACKUP_KEEP_WEEKLY: '2' } },
  );
  const answers: string[] = [];
  const call = async (method: 'GET' | 'POST', token: string | null, payload?: unknown) => {
    const res = await t.app.inject({
      method,
      url: '/api/admin/backups',
      headers: token === null ? {} : bearer(token),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    answers.push(res.body);
    return res;
  };

  it('GET shows the status and an empty list before the first backup', async () => {
    const res = await call('GET', admin);
    assert.equal(res.statusCode, 200, res.body);
    const b = res.json();
    assert.deepEqual(b.backups, []);
    assert.deepEqual(b.status, {
      configured: true,
      schedule: '0 3 * * *',
      nextRun: '2026-11-24T03:00:00.000Z',
      s3: null,
      keepDaily: 3,
      keepWeekly: 2,
      last: null,
      verify: true,
      lastVerified: null,
    });
  });

  it('POST {} makes a backup (201): listed, the last backup in the status, a backup.created event', async () => {
    const res = await call('POST', admin, {});
    assert.equal(res.statusCode, 201, res.body);
    const made = res.json();
    assert.equal(made.name, `palisade-backup-20261123T120000Z-${deploymentOf(t.shared.appKey)}.tar.gz.age`);
    assert.ok(made.size > 0);
    assert.equal(made.createdAt, '2026-11-23T12:00:00.000Z');
    assert.deepEqual(made.copy, { state: 'off' });
    assert.deepEqual(made.removed, []);
    assert.deepEqual(Object.keys(made).sort(), ['copy', 'createdAt', 'name', 'removed', 'size', 'verified'], 'no path, no manifest');
    assert.deepEqual(made.verified, { ok: true });
    assert.ok(existsSync(path.join(t.shared.dataDir, 'backups', made.name)));

    const list = (await call('GET', admin)).json();
    assert.deepEqual(list.backups, [{ name: made.name, size: made.size, createdAt: '2026-11-23T12:00:00Z' }]);
    assert.deepEqual(list.status.last, { at: '2026-11-23T12:00:00.000Z', name: made.name, size: made.size, copy: 'off' });

    const ev = await events(t, admin, 'backup.created');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.details.name, made.name);
    assert.equal(ev[0]!.outcome, 'success');
    assert.equal(ev[0]!.actor.name, 'root');
  });

  it('POST without a body works too; the retention removes the older archive of the same day', async () => {
    const first = (await call('GET', admin)).json().backups[0].name;
    t.clock.advance(120);
    const res = await call('POST', admin);
    assert.equal(res.statusCode, 201, res.body);
    const made = res.json();
    assert.equal(made.name, `palisade-backup-20261123T120200Z-${deploymentOf(t.shared.appKey)}.tar.gz.age`);
    assert.deepEqual(made.removed, [first]);
    const list = (await call('GET', admin)).json();
    assert.deepEqual(
      list.backups.map((b: { name: string }) => b.name),
      [made.name],
    );
    assert.equal((await events(t, admin, 'backup.pruned')).length, 1);
  });

  it('refuses unknown body fields (400) and makes nothing', async () => {
    const before = (await call('GET', admin)).json().backups;
    for (const body of [{ passphrase: 'x' }, { download: true }]) {
      const res = await call('POST', admin, body);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(res.json().error.code, 'VALIDATION_FAILED');
    }
    assert.equal((await call('GET', admin, { x: 1 })).statusCode, 200, 'a GET body is not read');
    assert.deepEqual((await call('GET', admin)).json().backups, before);
  });

  it('someone who is not an administrator gets 403 on both; no token 401; nothing is made', async () => {
    const before = (await call('GET', admin)).json().backups;
    for (const m of ['GET', 'POST'] as const) {
      const res = await call(m, user, m === 'POST' ? {} : undefined);
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(res.json().error.code, 'FORBIDDEN');
      const anon = await call(m, null, m === 'POST' ? {} : undefined);
      assert.equal(anon.statusCode, 401, anon.body);
    }
    assert.deepEqual((await call('GET', admin)).json().backups, before);
    assert.equal((await events(t, admin, 'backup.created')).length, 2);
  });

  it('no answer carried the passphrase', () => {
    assert.ok(answers.length > 10);
    assert.equal(answers.join('\n').includes(PASSPHRASE), false);
    assert.equal(answers.join('\n').includes(t.shared.dataDir), false, 'no path on the server');
    assert.equal(t.logs.join('\n').includes(PASSPHRASE), false, 'nor the server log');
  });
});

describe('admin API: backups, not configured', () => {
  let t: TestApp;
  let admin: string;
  useApp((app, token) => {
    t = app;
    admin = token;
  });

  it('GET says not configured; POST is 409 BACKUP_NOT_CONFIGURED and writes nothing', async () => {
    const get = await t.app.inject({ method: 'GET', url: '/api/admin/backups', headers: bearer(admin) });
    assert.equal(get.statusCode, 200, get.body);
    assert.equal(get.json().status.configured, false);
    assert.equal(get.json().status.schedule, null);
    assert.equal(get.json().status.nextRun, null);
    const res = await t.app.inject({ method: 'POST', url: '/api/admin/backups', headers: bearer(admin), payload: {} });
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error.code, 'BACKUP_NOT_CONFIGURED');
    assert.equal(existsSync(path.join(t.shared.dataDir, 'backups')), false);
    assert.deepEqual(await events(t, admin, 'backup.created'), []);
  });
});
