// Bug class: an admin route that forgets its gate. Deny by default, checked at boot: a route under
// /api/admin that declares neither a permission nor the administrator level stops the server from
// starting (a TypeError), so no such route can ship open to every signed-in user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../../src/app-config.js';
import { createServices } from '../../../src/services.js';
import { buildApp } from '../../../src/http/app.js';

test('admin route without a gate: refused at boot; declared ones (permission or admin level) are accepted [ASVS V8.2.1]', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-test-'));
  const { config } = loadConfig({ DATA_DIR: dir, APP_KEY: randomBytes(32).toString('base64url'), LOG_LEVEL: 'silent' }, { generateKey: false });
  const s = await createServices({ config });
  try {
    const app = await buildApp(s);
    assert.throws(() => app.get('/api/admin/forgotten', async () => ({ open: true })), TypeError);
    assert.throws(() => app.post('/api/admin', async () => ({ open: true })), TypeError);
    // Declared routes register, and routes outside /api/admin need no declaration.
    app.get('/api/admin/gated', { config: { permission: 'audit.read' } }, async () => ({}));
    app.get('/api/admin/admins-only', { config: { auth: 'admin' } }, async () => ({}));
    app.get('/api/administrators-elsewhere', async () => ({}));
    await app.ready();
    await app.close();
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
