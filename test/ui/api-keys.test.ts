// The API key screens: a user creates a key in "My API keys", reads the secret once (copy button), calls
// the API with it and gets through; rotation shows a new secret once; a revoked key is refused at once.
// Administrators (apikeys.manage) see every user's keys, filter by user, revoke, and change the API-key
// settings; a user without apikeys.manage gets neither the screen nor the API behind it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { bearer, createUser, login, ROOT } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PW = 'Quarterly-report-4411';

describe('admin UI: API keys', () => {
  let w: UiWorld;
  let admin: string;
  let annId: string;
  let bob: string;

  const inject = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, token: string, payload?: object) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) });
  /** A real HTTP call with a key, as a program would make it. */
  const withKey = (secret: string) => fetch(`${w.base}/api/collections/notes/records`, { headers: { 'x-api-key': secret } });
  /** A page whose clock is the server's frozen test clock (a key's "expired" is judged by the browser's clock). */
  const open = async () => {
    const page = await w.newPage();
    await page.clock.setFixedTime(w.t.clock.t);
    return page;
  };
  /** A screenshot from the top of the page (the shown-once panel scrolls it). */
  const snap = async (page: Page, name: string) => {
    await page.evaluate('window.scrollTo(0, 0)');
    await shot(page, name);
  };
  const secretOnScreen = async (page: Page) => page.getByLabel('The key', { exact: true }).inputValue();

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    const ok = async (r: Promise<{ statusCode: number; body: string }>, code: number) => {
      const res = await r;
      assert.equal(res.statusCode, code, res.body);
    };
    await ok(inject('POST', '/api/admin/collections', admin, { name: 'notes', fields: [{ name: 'title', type: 'string', required: true }] }), 201);
    await ok(inject('POST', '/api/admin/roles', admin, { name: 'writer' }), 201);
    await ok(inject('POST', '/api/admin/roles', admin, { name: 'keymaker', permissions: ['apikeys.manage'] }), 201);
    await ok(inject('POST', '/api/admin/grants', admin, { role: 'writer', collection: 'notes', actions: ['view', 'create'], fields: ['title'] }), 201);
    annId = await createUser(w.t, admin, 'ann', PW);
    await ok(inject('PUT', `/api/admin/users/${annId}/roles`, admin, { roles: ['writer', 'keymaker'] }), 204);
    const bobId = await createUser(w.t, admin, 'bob', PW);
    await ok(inject('PUT', `/api/admin/users/${bobId}/roles`, admin, { roles: ['writer'] }), 204);
    bob = (await login(w.t, 'bob', PW)).token;
    await ok(inject('POST', '/api/collections/notes/records', admin, { title: 'first' }), 201);
  });
  after(async () => w?.close());

  it('creates a key, shows the secret once with a copy button; the key gets through; rotated and revoked, it is refused', async () => {
    const page = await open();
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: w.base });
    await signIn(page, w.base, 'ann', PW);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'My API keys' }).click();
    await page.getByRole('heading', { name: 'My API keys' }).waitFor();
    await page.getByText('No API keys yet.').waitFor();
    await snap(page, 'keys-mine-empty');

    // A name is required: the form says so without asking the server.
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('alert').filter({ hasText: 'Give the key a name' }).waitFor();

    await page.getByLabel('Name', { exact: true }).fill('ci export');
    await page.getByLabel('Role it acts with').selectOption('writer');
    await page.getByLabel('Expires').selectOption({ label: '30 days' });
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'Your new key “ci export”' }).waitFor();
    const secret = await secretOnScreen(page);
    assert.match(secret, /^pal_[0-9a-f]{64}$/);
    await page.getByText('It is shown this once').waitFor();
    await page.getByRole('button', { name: 'Copy key' }).click();
    await page.getByRole('status').filter({ hasText: 'Copied to the clipboard.' }).waitFor();
    assert.equal(await page.evaluate('navigator.clipboard.readText()'), secret);
    await snap(page, 'keys-mine-secret');

    // The key works from a program: the records its role may read.
    const got = await withKey(secret);
    assert.equal(got.status, 200);
    assert.deepEqual(
      ((await got.json()) as { items: Array<{ title: string }> }).items.map((x) => x.title),
      ['first'],
    );
    const listed = (await inject('GET', '/api/auth/api-keys', (await login(w.t, 'ann', PW)).token)).json().keys;
    assert.equal(listed.length, 1);
    assert.equal(listed[0].role, 'writer');
    assert.equal(Date.parse(listed[0].expiresAt) - Date.parse(listed[0].createdAt), 30 * 86400_000, 'the expiry chosen on the screen');

    // Shown once: gone when dismissed and never again after a reload.
    await page.getByRole('button', { name: 'I have copied it' }).click();
    assert.equal((await page.content()).includes(secret.slice(4)), false);
    await page.reload();
    await page.getByRole('cell', { name: /^ci export/ }).waitFor();
    assert.equal((await page.content()).includes(secret.slice(4)), false, 'the secret is never shown again');
    await snap(page, 'keys-mine-list');

    // Rotation: a new secret, shown once, that works too.
    await page.getByRole('button', { name: 'Rotate ci export' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    await page.getByRole('heading', { name: 'The new key for “ci export”' }).waitFor();
    const rotated = await secretOnScreen(page);
    assert.match(rotated, /^pal_[0-9a-f]{64}$/);
    assert.notEqual(rotated, secret);
    assert.equal((await withKey(rotated)).status, 200);
    await page.getByRole('button', { name: 'I have copied it' }).click();

    // Revoking the new key: refused at once, with the server's answer for an unknown key.
    const row = page.getByRole('row').filter({ hasText: rotated.slice(-4) });
    await row.getByRole('button', { name: 'Revoke ci export' }).click();
    await snap(page, 'keys-mine-revoke');
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: '“ci export” revoked.' }).waitFor();
    const refused = await withKey(rotated);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'API_KEY_INVALID');
    // Revoked keys leave the list unless asked for.
    assert.equal(
      await page
        .getByRole('row')
        .filter({ hasText: rotated.slice(-4) })
        .count(),
      0,
    );
    await page.getByLabel('Show revoked keys').check();
    await page
      .getByRole('row')
      .filter({ hasText: rotated.slice(-4) })
      .getByText('Revoked')
      .waitFor();
    assertClean(w);
  });

  it('a user without apikeys.manage sees no "API keys" screen, the server refuses its API, and creating a key is refused in words', async () => {
    const page = await open();
    await signIn(page, w.base, 'bob', PW);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'My API keys' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'API keys', exact: true }).count(), 0);
    await page.goto(`${w.base}/admin/api-keys`);
    await page.getByRole('heading', { name: 'Page not found' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'API keys', exact: true }).count(), 0);
    const r = await inject('GET', '/api/admin/api-keys', bob);
    assert.equal(r.statusCode, 403, r.body);
    assert.equal(r.json().error.code, 'FORBIDDEN');
    assert.equal((await w.t.app.inject({ method: 'DELETE', url: '/api/admin/api-keys/x', headers: bearer(bob) })).statusCode, 403);

    // Self-service is off: the server refuses bob's key, and the screen says why.
    await nav.getByRole('link', { name: 'My API keys' }).click();
    await page.getByLabel('Name', { exact: true }).fill('mine');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('alert').filter({ hasText: 'only holders of the apikeys.manage permission' }).waitFor();
    await snap(page, 'keys-mine-refused');
    assert.equal((await inject('GET', '/api/auth/api-keys', bob)).json().keys.length, 0);
    assertClean(w);
  });

  it("an administrator sees every user's keys, filters by user, revokes one, and changes the API-key settings", async () => {
    const page = await open();
    await signIn(page, w.base, ROOT.username, ROOT.password);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'API keys', exact: true }).click();
    await page.getByRole('heading', { name: 'API keys', exact: true, level: 1 }).waitFor();
    await page.getByRole('cell', { name: 'ann', exact: true }).first().waitFor();
    await page.getByLabel('User', { exact: true }).selectOption({ label: 'ann' });
    await page.waitForURL(new RegExp(`userId=${annId}`));
    await page.getByRole('cell', { name: 'ann', exact: true }).first().waitFor();
    await snap(page, 'keys-admin');

    // The rotated-away key still works in its grace period; the administrator stops it.
    const live = (await inject('GET', `/api/admin/api-keys?userId=${annId}`, admin)).json().keys.filter((k: { revokedAt: string | null }) => !k.revokedAt);
    assert.equal(live.length, 1);
    await page.getByRole('button', { name: 'Revoke ci export of ann' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'revoked' }).waitFor();
    const after = (await inject('GET', `/api/admin/api-keys?userId=${annId}`, admin)).json().keys;
    assert.ok(
      after.every((k: { revokedAt: string | null }) => k.revokedAt),
      'every key of ann is revoked',
    );

    // The settings: self-service keys on, saved through PATCH.
    const area = page.locator('#area-apiKeys');
    await area.getByRole('heading', { name: 'API keys' }).waitFor();
    await area.getByLabel('Self service').check();
    await area.getByRole('button', { name: 'Save API keys' }).click();
    await area.getByRole('status').filter({ hasText: 'API keys saved.' }).waitFor();
    assert.equal((await inject('GET', '/api/admin/settings/api-keys', admin)).json().selfService, true);
    await snap(page, 'keys-admin-settings');
    // Now bob may make his own key: the server decided, the screen follows.
    const mine = await inject('POST', '/api/auth/api-keys', bob, { name: 'bob', role: 'writer' });
    assert.equal(mine.statusCode, 201, mine.body);
    await page.setViewportSize({ width: 390, height: 800 });
    await page.reload();
    await page.getByRole('heading', { name: 'API keys', exact: true, level: 1 }).waitFor();
    await page.getByRole('table').first().waitFor();
    await snap(page, 'keys-admin-phone');
    assertClean(w);
  });
});
