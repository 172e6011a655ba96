// A record's history in the data browser (issue 13): its kept revisions (view, compare with now, restore after a
// confirmation) and the time spent in each status, for anyone who may view the record; restores go through the
// caller's update grants. The change history from the audit log is in test/ui/audit.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { durationText } from '../../ui/src/lib/audit.js';
import { bearer, createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';

const PW = 'Harbour-violet-copper-38';

describe('admin UI: record history (client logic)', () => {
  it('durations in words, their two largest units', () => {
    assert.equal(durationText(0), '0 s');
    assert.equal(durationText(3_600_000), '1 h');
    assert.equal(durationText(2 * 86_400_000 + 3 * 3_600_000 + 120_000), '2 d 3 h');
    assert.equal(durationText(62_500), '1 min 2 s');
  });
});

describe('admin UI: record revisions and status times against the real server', () => {
  let w: UiWorld;
  let admin: string;
  let id: string;
  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, payload?: unknown, token = admin) =>
    w.t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
  const ok = async (p: ReturnType<typeof api>, code = 201) => {
    const r = await p;
    assert.equal(r.statusCode, code, r.body);
    return r;
  };

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    await ok(
      api('POST', '/api/admin/collections', {
        name: 'cases',
        fields: [
          { name: 'title', type: 'string', required: true },
          { name: 'state', type: 'status', values: ['new', 'open', 'done'] },
          { name: 'note', type: 'text' },
        ],
        audit: { revisions: true },
      }),
    );
    // Agents see and change title and state; never the note.
    await ok(api('POST', '/api/admin/roles', { name: 'agent' }));
    await ok(api('POST', '/api/admin/grants', { role: 'agent', collection: 'cases', actions: ['view', 'update'], fields: ['title', 'state'] }));
    const agnesId = await createUser(w.t, admin, 'agnes', PW);
    await ok(api('PUT', `/api/admin/users/${agnesId}/roles`, { roles: ['agent'] }), 204);
    id = (await ok(api('POST', '/api/collections/cases/records', { title: 'First', state: 'new', note: 'NOTE-ONE' }))).json().id;
    // An hour in "new", two in "open" (each step signs in again: the token would have expired).
    w.t.clock.advance(3600);
    admin = (await login(w.t)).token;
    await ok(api('PATCH', `/api/collections/cases/records/${id}`, { title: 'Second', state: 'open', note: 'NOTE-TWO' }), 200);
    w.t.clock.advance(7200);
    admin = (await login(w.t)).token;
    await ok(api('PATCH', `/api/collections/cases/records/${id}`, { title: 'Third', state: 'done' }), 200);
  });
  after(async () => w?.close());

  it('an administrator sees the time in each status, views and compares a revision and restores it after confirming', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/data/cases/${id}`);
    const times = page.getByRole('table', { name: 'Time in each state' });
    await times.waitFor();
    const rows = (await times.locator('tbody tr').allTextContents()).map((s) => s.replace(/\s+/g, ' ').trim());
    assert.deepEqual(rows, ['new1 h', 'open2 h', 'done0 s']);
    const revisions = page.getByRole('region', { name: 'Revisions' });
    await revisions.getByRole('button', { name: 'View revision 1' }).waitFor();
    assert.equal(await revisions.locator('tbody tr').count(), 2);

    await revisions.getByRole('button', { name: 'View revision 1' }).click();
    const v1 = page.getByRole('region', { name: 'Revision 1', exact: true });
    await v1.getByText('First', { exact: true }).waitFor();
    await v1.getByText('NOTE-ONE').waitFor();
    await revisions.getByRole('button', { name: 'Compare revision 1 with now' }).click();
    const diff = page.getByRole('region', { name: 'Revision 1 compared with now' });
    await diff.getByRole('row').filter({ hasText: 'title' }).waitFor();
    assert.deepEqual(
      (await diff.getByRole('row').filter({ hasText: 'title' }).locator('td').allTextContents()).map((s) => s.trim()),
      ['title', 'First', 'Third'],
    );
    await shot(page, 'record-revisions');

    await revisions.getByRole('button', { name: 'Restore revision 1' }).click();
    const dialog = page.getByRole('dialog', { name: 'Restore revision 1?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await ok(api('GET', `/api/collections/cases/records/${id}`), 200)).json().title, 'Third', 'cancelled: nothing changed');
    await revisions.getByRole('button', { name: 'Restore revision 1' }).click();
    await dialog.getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Revision 1 restored' }).waitFor();
    await page
      .locator('dd')
      .filter({ hasText: /^First$/ })
      .waitFor();
    const now = (await ok(api('GET', `/api/collections/cases/records/${id}`), 200)).json();
    assert.deepEqual([now.title, now.state, now.note], ['First', 'new', 'NOTE-ONE']);
    // The restore is itself a revision, and a status move.
    await revisions.getByRole('button', { name: 'View revision 3' }).waitFor();
    await page.getByRole('table', { name: 'Time in each state' }).getByRole('row', { name: /new/ }).waitFor();
    // The change history names the restore.
    await page.getByRole('region', { name: 'Change history' }).locator('.entry').first().getByText('restore').waitFor();
    assertClean(w);
  });

  it('an agent without audit.read sees revisions and times of the fields they may read, restores only those, and no change history', async () => {
    const page = await w.newPage();
    await signIn(page, w.base, 'agnes', PW);
    await page.goto(`${w.base}/data/cases/${id}`);
    const revisions = page.getByRole('region', { name: 'Revisions' });
    await revisions.getByRole('button', { name: 'View revision 2' }).waitFor();
    await revisions.getByRole('button', { name: 'View revision 2' }).click();
    const v2 = page.getByRole('region', { name: 'Revision 2', exact: true });
    await v2.getByText('Second', { exact: true }).waitFor();
    assert.equal(await v2.getByText('note').count(), 0);
    assert.ok(!(await page.content()).includes('NOTE-'), 'a field outside the grant is nowhere on the page');
    assert.equal(await page.getByRole('region', { name: 'Change history' }).count(), 0);
    await revisions.getByRole('button', { name: 'Restore revision 2' }).click();
    await page.getByRole('dialog', { name: 'Restore revision 2?' }).getByRole('button', { name: 'Restore', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Revision 2 restored' }).waitFor();
    const now = (await ok(api('GET', `/api/collections/cases/records/${id}`), 200)).json();
    assert.deepEqual([now.title, now.state, now.note], ['Second', 'open', 'NOTE-ONE'], 'the note the agent cannot see stays as it was');
    // The server refuses what the screen does not offer: the audit log.
    assert.equal((await api('GET', `/api/admin/audit?recordId=${id}`, undefined, (await login(w.t, 'agnes', PW)).token)).statusCode, 403);
    assertClean(w);
  });

  it('a viewer of done cases only sees a hidden revision as its number and a note instead of the status history', async () => {
    await ok(api('POST', '/api/admin/roles', { name: 'closer' }));
    await ok(api('POST', '/api/admin/grants', { role: 'closer', collection: 'cases', actions: ['view'], fields: ['title', 'state'], statuses: ['done'] }));
    const cleoId = await createUser(w.t, admin, 'cleo', PW);
    await ok(api('PUT', `/api/admin/users/${cleoId}/roles`, { roles: ['closer'] }), 204);
    const done = (await ok(api('POST', '/api/collections/cases/records', { title: 'Quiet', state: 'new' }))).json().id;
    await ok(api('PATCH', `/api/collections/cases/records/${done}`, { title: 'Closed', state: 'done' }), 200);
    const page = await w.newPage();
    await signIn(page, w.base, 'cleo', PW);
    await page.goto(`${w.base}/data/cases/${done}`);
    const revisions = page.getByRole('region', { name: 'Revisions' });
    await revisions.getByText('Not visible to you').waitFor();
    const cells = (await revisions.locator('tbody tr').first().locator('td').allTextContents()).map((s) => s.trim());
    assert.deepEqual(cells, ['1', 'Not visible to you: the record was outside your access in this version.']);
    assert.equal(await revisions.getByRole('button', { name: 'View revision 1' }).count(), 0);
    await page.getByText('its status history is not yours to see').waitFor();
    assert.equal(await page.getByRole('table', { name: 'Time in each state' }).count(), 0);
    assert.equal(await page.getByRole('alert').count(), 0, 'the refusal is a note, not an error');
    assert.ok(!(await page.content()).includes('Invalid Date'));
    await shot(page, 'record-history-hidden');
    assertClean(w);
  });
});
