import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, cliEnv, type TestApp } from '../../helpers/app.js';
import { cli } from '../../helpers/cli.js';
import { type TestSmtp, useMailApp } from '../../helpers/smtp.js';

/**
 * Bug class: recipient smuggling through an email address. A value with a display name, several
 * addresses, a quoted local part, a comment or a line break was accepted, and nodemailer mailed the
 * reset link to the address hidden inside it. Only one plain addr-spec is accepted anywhere, and the
 * mailer refuses anything else even when it is already stored.
 */

export const SMUGGLED = [
  'name<attacker@evil.test>',
  'Victim <attacker@evil.test>',
  '<attacker@evil.test>',
  'victim@example.org, attacker@evil.test',
  'victim@example.org,attacker@evil.test',
  'victim@example.org;attacker@evil.test',
  '"victim@example.org<>"@evil.test',
  '"a<attacker@evil.test>"@example.org',
  '"quoted"@example.org',
  'victim@example.org\r\nBcc: attacker@evil.test',
  'victim@example.org\nattacker@evil.test',
  'attacker@evil.test (victim@example.org)',
  'attacker@evil.test(comment)',
  'victim@[127.0.0.1]',
  'victim@example.org@evil.test',
  'ｖictim＠example.org',
  'victim＠evil.test',
  'victim@example.org>',
  'victim @example.org',
  '.victim@example.org',
  'vic..tim@example.org',
  'victim@example..org',
  'victim@-evil.test',
  'victim@evil.test.',
  `${'a'.repeat(65)}@example.org`,
];

const LEGIT = ['alice.o+tag@mail.example.org', "o'brien@example.ie", 'x_y-z@sub.example-domain.org', 'root@localhost'];

let t: TestApp;
let smtp: TestSmtp;
let admin: string;
let ip = 10;

useMailApp((app, token, server) => {
  t = app;
  admin = token;
  smtp = server;
});

const userCount = async () =>
  (
    await t.s.db
      .selectFrom('users')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
  ).n;

test('email smuggling: creating or changing a user with a display name, a list, a quoted part or a line break in the email is refused [ASVS V1.3.11, V2.2.1]', async () => {
  const id = await createUser(t, admin, 'vera', 'Quiet-meadow-2931', { email: 'vera@example.org' });
  const before = Number(await userCount());
  let n = 0;
  for (const email of SMUGGLED) {
    const c = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { username: `smuggle${n++}`, email, invite: true },
    });
    assert.equal(c.statusCode, 400, `create ${JSON.stringify(email)}: ${c.body}`);
    assert.equal(c.json().error.code, 'VALIDATION_FAILED');
    const p = await t.app.inject({ method: 'PATCH', url: `/api/admin/users/${id}`, headers: bearer(admin), payload: { email } });
    assert.equal(p.statusCode, 400, `patch ${JSON.stringify(email)}: ${p.body}`);
    assert.equal(p.json().error.code, 'VALIDATION_FAILED');
  }
  assert.equal(Number(await userCount()), before);
  const u = await t.app.inject({ method: 'GET', url: `/api/admin/users/${id}`, headers: bearer(admin) });
  assert.equal(u.json().user.email, 'vera@example.org');
  await t.s.tasks.drain();
  assert.equal(smtp.mails.length, 0);
});

test('email smuggling: the service refuses a smuggled address too (the CLI and any caller below the HTTP schema) [ASVS V1.3.11, V2.2.2]', async () => {
  for (const email of SMUGGLED) {
    await assert.rejects(
      t.s.users.create({ username: 'below-schema', email, password: 'Quiet-meadow-2931' }, { actor: { id: null, name: 'test' } }),
      (e: { code?: string }) => e.code === 'VALIDATION_FAILED',
      JSON.stringify(email),
    );
  }
  const r = await cli(['user', 'create', '--username', 'cliuser', '--email', 'victim@example.org, attacker@evil.test'], cliEnv(t));
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /VALIDATION_FAILED/);
  assert.equal(await t.s.users.findByName('cliuser'), undefined);
  const ok = await cli(['user', 'create', '--username', 'cliuser', '--email', 'cli.user+x@example.org'], cliEnv(t));
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal((await t.s.users.findByName('cliuser'))?.email, 'cli.user+x@example.org');
});

test('email smuggling: sign-in and forgot-password refuse a smuggled address with 400, and no mail goes out', async () => {
  for (const email of SMUGGLED) {
    const f = await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { email }, remoteAddress: `198.51.100.${ip++ % 250}` });
    assert.equal(f.statusCode, 400, `forgot ${JSON.stringify(email)}`);
    const l = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email, password: 'Quiet-meadow-2931' } });
    assert.equal(l.statusCode, 400, `login ${JSON.stringify(email)}`);
  }
  await t.s.tasks.drain();
  assert.equal(smtp.to('attacker@evil.test').length, 0);
});

test('email smuggling: an address stored before the check (legacy row) is never mailed: links refused, forgot sends nothing', async () => {
  const id = await createUser(t, admin, 'wendy', 'Quiet-meadow-2931', { email: 'wendy@example.org' });
  await t.s.db.updateTable('users').set({ email: 'wendy@example.org, attacker@evil.test' }).where('id', '=', id).execute();
  const r = await t.app.inject({ method: 'POST', url: `/api/admin/users/${id}/password/reset-link`, headers: bearer(admin) });
  assert.equal(r.statusCode, 409, r.body);
  assert.equal(r.json().error.code, 'LINK_NOT_SENDABLE');
  assert.equal(r.json().error.details.reason, 'invalid_email');
  const f = await t.app.inject({ method: 'POST', url: '/api/auth/password/forgot', payload: { username: 'wendy' }, remoteAddress: '198.51.100.251' });
  assert.equal(f.statusCode, 202);
  await t.s.tasks.drain();
  assert.equal(smtp.to('attacker@evil.test').length, 0);
  assert.equal(smtp.to('wendy@example.org').length, 0);
});

test('email smuggling: plain addresses are accepted everywhere and the reset mail goes to exactly that one address [ASVS V1.3.11, V2.2.1]', async () => {
  let n = 0;
  for (const email of LEGIT) {
    const c = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: `legit${n++}`, email, password: 'Quiet-meadow-2931' },
    });
    assert.equal(c.statusCode, 201, `${email}: ${c.body}`);
    assert.equal(c.json().user.email, email.toLowerCase());
  }
  const f = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password/forgot',
    payload: { email: 'Alice.O+tag@mail.example.org' },
    remoteAddress: '198.51.100.252',
  });
  assert.equal(f.statusCode, 202);
  await t.s.tasks.drain();
  const mails = smtp.to('alice.o+tag@mail.example.org');
  assert.equal(mails.length, 1);
  assert.deepEqual(mails[0]!.to, ['alice.o+tag@mail.example.org']);
  const l = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: "O'Brien@example.ie", password: 'Quiet-meadow-2931' } });
  assert.equal(l.statusCode, 200, l.body);
});
