import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { login, createUser, type TestApp, useApp } from '../helpers/app.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  { env: { PUBLIC_URL: 'https://data.example.org' } },
);

/** Without SMTP_URL, mail goes to DATA_DIR/outbox: private files, never the log. */
test('without SMTP the reset mail lands in DATA_DIR/outbox (0700 folder, 0600 file) and its link works', async () => {
  await createUser(t, admin, 'olive', 'Quiet-meadow-2931', { email: 'olive@example.org' });
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email: 'olive@example.org' } });
  assert.equal(r.statusCode, 202);
  await t.s.tasks.drain();
  const dir = path.join(t.shared.dataDir, 'outbox');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const files = readdirSync(dir);
  assert.equal(files.length, 1);
  const file = path.join(dir, files[0]!);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const raw = readFileSync(file, 'utf8');
  assert.match(raw, /^To: olive@example.org$/m);
  const decoded = raw.replace(/=\r?\n/g, '').replace(/=3D/g, '=');
  const token = /https:\/\/data\.example\.org\/reset-password#token=([A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})/.exec(decoded)?.[1];
  assert.ok(token);
  assert.doesNotMatch(t.logs.join('\n'), new RegExp(token.split('.')[1]!));
  const reset = await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword: 'Outbox-harbour-light-1' } });
  assert.equal(reset.statusCode, 204);
  await login(t, 'olive', 'Outbox-harbour-light-1');
});
