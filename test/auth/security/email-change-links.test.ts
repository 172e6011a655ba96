import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, type TestApp } from '../../helpers/app.js';
import { type TestSmtp, linkToken, useMailApp } from '../../helpers/smtp.js';

/**
 * Bug class: password links outliving a change of email address. A reset link or invitation mailed
 * to the old address must stop working as soon as the address changes, like it does when the
 * password changes, so that whoever still reads the old mailbox cannot take the account over.
 */

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
let ip = 10;

useMailApp(
  (app, token, server) => {
    t = app;
    admin = token;
    smtp = server;
  },
  { SESSION_VALIDITY: '24h', TOKEN_VALIDITY: '24h' },
);

const patch = (id: string, payload: Record<string, unknown>) =>
  t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload });
const reset = (token: string, newPassword: string) => t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword } });

/** The newest mail to `address` that carries a link: a notice without one (the address changed) may arrive after it. */
async function lastLink(address: string): Promise<string> {
  await t.s.tasks.drain();
  const mails = smtp.to(address).filter((m) => m.decoded.includes('#token='));
  assert.ok(mails.length > 0, `a mail with a link to ${address}`);
  return linkToken(mails[mails.length - 1]!);
}

async function forgotLink(email: string): Promise<string> {
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email }, remoteAddress: `198.51.100.${ip++}` });
  assert.equal(r.statusCode, 202);
  return lastLink(email);
}

test('email-change links: a forgot-password link mailed to the old address stops working when an administrator changes the email', async () => {
  const id = await createUser(t, admin, 'erin', 'Quiet-meadow-2931', { email: 'erin.old@example.org' });
  const token = await forgotLink('erin.old@example.org');
  const p = await patch(id, { email: 'erin.new@example.org' });
  assert.equal(p.statusCode, 200, p.body);
  const r = await reset(token, 'Taken-over-by-mallory-77');
  assert.equal(r.statusCode, 400, r.body);
  assert.equal(r.json().error.code, 'RESET_TOKEN_INVALID');
  // Nothing changed: the old password still signs in, the new one does not.
  await login(t, 'erin', 'Quiet-meadow-2931');
  const bad = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'erin', password: 'Taken-over-by-mallory-77' } });
  assert.equal(bad.statusCode, 401);
  const ev = (await events(t, admin, 'user.updated')).find((e) => e.subjectId === id);
  assert.equal(ev?.details.linksVoided, 1);

  // The legitimate owner of the new address gets a working link.
  const fresh = await forgotLink('erin.new@example.org');
  const ok = await reset(fresh, 'Harbour-lights-cinnamon-42');
  assert.equal(ok.statusCode, 204, ok.body);
  await login(t, 'erin', 'Harbour-lights-cinnamon-42');
});

test('email-change links: an invitation and an admin-sent reset link mailed to the old address stop working when the email changes', async () => {
  const created = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'ivan', email: 'ivan.old@example.org', invite: true },
  });
  assert.equal(created.statusCode, 201, created.body);
  const id = created.json().user.id as string;
  const invitation = await lastLink('ivan.old@example.org');
  assert.equal((await patch(id, { email: 'ivan.new@example.org' })).statusCode, 200);
  const r = await reset(invitation, 'Taken-over-by-mallory-77');
  assert.equal(r.statusCode, 400);
  assert.equal(r.json().error.code, 'RESET_TOKEN_INVALID');
  const u = await t.app.inject({ method: 'GET', url: `/api/admin/users/${id}`, headers: bearer(admin) });
  assert.equal(u.json().user.hasPassword, false);

  // Admin-sent reset link, then the address is removed altogether.
  const id2 = await createUser(t, admin, 'judy', 'Quiet-meadow-2931', { email: 'judy@example.org' });
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${id2}/password/reset-link`, headers: bearer(admin) })).statusCode, 202);
  const link = await lastLink('judy@example.org');
  assert.equal((await patch(id2, { email: null })).statusCode, 200);
  assert.equal((await reset(link, 'Taken-over-by-mallory-77')).json().error.code, 'RESET_TOKEN_INVALID');
  await login(t, 'judy', 'Quiet-meadow-2931');

  // The new address gets a working invitation.
  assert.equal((await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/invitation`, headers: bearer(admin) })).statusCode, 202);
  const ok = await reset(await lastLink('ivan.new@example.org'), 'Granite-willow-parade-73');
  assert.equal(ok.statusCode, 204, ok.body);
});

test('email-change links: the change token of an expired or required password change is voided too', async () => {
  const id = await createUser(t, admin, 'kate', 'Quiet-meadow-2931', { email: 'kate@example.org', mustChangePassword: true });
  const r = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'kate', password: 'Quiet-meadow-2931' } });
  assert.equal(r.json().error.code, 'PASSWORD_CHANGE_REQUIRED');
  const change = r.json().error.details.changeToken as string;
  assert.equal((await patch(id, { email: 'kate.new@example.org' })).statusCode, 200);
  assert.equal((await reset(change, 'Copper-lantern-drift-58')).json().error.code, 'RESET_TOKEN_INVALID');
});

test('email-change links: a PATCH that leaves the address as it is (other fields, or the same address) keeps the link working', async () => {
  const id = await createUser(t, admin, 'liam', 'Quiet-meadow-2931', { email: 'liam@example.org' });
  const token = await forgotLink('liam@example.org');
  assert.equal((await patch(id, { email: 'LIAM@example.org' })).statusCode, 200);
  assert.equal((await patch(id, { mustChangePassword: false })).statusCode, 200);
  const ok = await reset(token, 'Velvet-orbit-meadow-19');
  assert.equal(ok.statusCode, 204, ok.body);
});
