import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, events, ROOT, type TestApp, useApp } from '../helpers/app.js';
import { TestSmtp, linkToken } from '../helpers/smtp.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../helpers/cli.js';

/**
 * AUTH-7: every rule of the password policy refuses what it must and lets a good password through,
 * on each of the four paths a password can take: user creation, an administrator setting it, the
 * user's own change, and a reset link. A refusal lists the failed rule by its stable code and
 * changes nothing.
 */

let t: TestApp;
let smtp: TestSmtp;
let admin: string;

useApp(
  async (app, token) => {
    t = app;
    admin = token;
    userId = await createUser(t, admin, USER.username, current, { email: USER.email });
  },
  async () => {
    smtp = await new TestSmtp().start();
    return { env: { SMTP_URL: smtp.url, MAIL_FROM: 'Palisade <noreply@example.org>', PUBLIC_URL: 'https://palisade.example.org' } };
  },
);

after(async () => {
  await smtp.stop();
});

const USER = { username: 'heisenberg', email: 'walter.white@example.org' };
let current = 'Initial-harbour-light-31';
let userId = '';
let counter = 0;

async function setPolicy(patch: Record<string, unknown>): Promise<void> {
  // Back to the defaults first (history 0 so that the scenarios can reuse nothing by accident), then the rule.
  const base = {
    minLength: 15,
    maxLength: 128,
    requireLowercase: false,
    requireUppercase: false,
    requireDigit: false,
    requireSymbol: false,
    symbols: '!@#$%^&*',
    forbidUserInfo: true,
    history: 0,
    blocklist: true,
    contextWords: [],
    customRules: [],
  };
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(admin), payload: { ...base, ...patch } });
  assert.equal(r.statusCode, 200, r.body);
}

async function userRow(id: string) {
  return t.s.db.selectFrom('users').select(['password_hash', 'updated_at', 'password_changed_at']).where('id', '=', id).executeTakeFirstOrThrow();
}

function assertRefused(res: { statusCode: number; json(): any; body: string }, code: string): void {
  assert.equal(res.statusCode, 400, res.body);
  const e = res.json().error;
  assert.equal(e.code, 'PASSWORD_REJECTED');
  assert.ok(e.details.rules.includes(code), `${code} expected in ${JSON.stringify(e.details.rules)}`);
  assert.deepEqual(
    e.details.rules,
    e.details.failed.map((f: { code: string }) => f.code),
  );
}

/** A fresh reset token for the user, from a mail the real SMTP server received. */
async function resetToken(): Promise<string> {
  // The newest mail with a link: a notice of the step before (password changed) may arrive after the link's mail.
  const links = () => smtp.to(USER.email).filter((m) => m.decoded.includes('#token='));
  const seen = links().length;
  const r = await t.app.inject({ method: 'POST', url: `/api/admin/users/${userId}/password/reset-link`, headers: bearer(admin) });
  assert.equal(r.statusCode, 202, r.body);
  await t.s.tasks.drain();
  const mails = links();
  assert.equal(mails.length, seen + 1, 'one new mail with a link');
  return linkToken(mails[mails.length - 1]!);
}

interface Scenario {
  rule: string;
  policy: Record<string, unknown>;
  /** A password this rule refuses; `{u}` is a unique number, `{NAME}` the username, `{local}` the email's local part. */
  bad: string;
  /** A password every rule of this policy accepts. */
  good: string;
}

const SCENARIOS: Scenario[] = [
  { rule: 'PASSWORD_TOO_SHORT', policy: { minLength: 20 }, bad: 'Amber-lantern-{u}', good: 'Amber-lantern-glowing-{u}' },
  { rule: 'PASSWORD_TOO_LONG', policy: { maxLength: 64 }, bad: `Amber-lantern-{u}-${'x'.repeat(60)}`, good: `Amber-lantern-{u}-${'y'.repeat(30)}` },
  { rule: 'PASSWORD_MISSING_LOWERCASE', policy: { requireLowercase: true }, bad: 'AMBER-LANTERN-GLOW-{u}', good: 'AMBER-LANTERN-GLOw-{u}' },
  { rule: 'PASSWORD_MISSING_UPPERCASE', policy: { requireUppercase: true }, bad: 'amber-lantern-glow-{u}', good: 'amber-lantern-gloW-{u}' },
  { rule: 'PASSWORD_MISSING_DIGIT', policy: { requireDigit: true }, bad: 'Amber-lantern-glow-nodigits', good: 'Amber-lantern-glow-{u}' },
  { rule: 'PASSWORD_MISSING_SYMBOL', policy: { requireSymbol: true, symbols: '~+' }, bad: 'Amber!lantern!glow!{u}', good: 'Amber~lantern!glow!{u}' },
  { rule: 'PASSWORD_CONTAINS_USERNAME', policy: {}, bad: 'Say-my-name-{NAME}-{u}', good: 'Say-my-name-please-{u}' },
  { rule: 'PASSWORD_CONTAINS_EMAIL', policy: {}, bad: '{local}-cooks-{u}', good: 'Someone-never-cooks-{u}' },
  { rule: 'PASSWORD_BLOCKLISTED', policy: {}, bad: 'PasswordPassword', good: 'Password-lantern-{u}-zq' },
  { rule: 'PASSWORD_BLOCKLISTED', policy: {}, bad: 'Iloveyou!!2024!!', good: 'Iloveyou-harbour-{u}' },
  { rule: 'PASSWORD_BLOCKLISTED', policy: {}, bad: 'P@ssw0rdP@ssw0rd', good: 'P@ssw0rd-harbour-{u}' },
  { rule: 'PASSWORD_CONTEXT_WORD', policy: {}, bad: 'Palisade-is-great-{u}', good: 'Pallisade-is-a-typo-{u}' },
  { rule: 'PASSWORD_CONTEXT_WORD', policy: { contextWords: ['Acme-Corp'] }, bad: 'acme-corp-rocks-{u}', good: 'acme-rocks-hard-{u}' },
  {
    rule: 'PASSWORD_CUSTOM_RULE',
    policy: { customRules: [{ pattern: '^(?!.*(?:qwerty|letmein)).*$', flags: 'i', message: 'No easily guessed words' }] },
    bad: 'QWERTY-harbour-{u}',
    good: 'Quartz-harbour-{u}',
  },
  { rule: 'PASSWORD_CONTROL_CHARACTERS', policy: {}, bad: 'Amber-lantern\u0007-{u}', good: 'Amber-lantern-bell-{u}' },
  { rule: 'PASSWORD_CONTROL_CHARACTERS', policy: {}, bad: 'Amber-lantern\u0085-{u}', good: 'Amber-lantern-\u00e9t\u00e9-{u}' },
  // A noncharacter (a lone surrogate never gets this far: every route refuses it as MALFORMED_TEXT, D466).
  { rule: 'PASSWORD_INVALID_UNICODE', policy: {}, bad: 'Amber-lantern-\ufffe-{u}', good: 'Amber-lantern-\ud83d\ude00-{u}' },
];

interface Who {
  username: string;
  local: string;
}
const MAIN: Who = { username: USER.username, local: 'walter.white' };
const fill = (pw: string, who: Who = MAIN) =>
  pw
    .replace('{u}', String(1000 + ++counter))
    .replace('{NAME}', who.username.toUpperCase())
    .replace('{local}', who.local);

for (const sc of SCENARIOS) {
  test(`${sc.rule} (${JSON.stringify(sc.policy)}): refused and accepted on create, admin set, own change and reset`, async () => {
    await setPolicy(sc.policy);

    // Create: a refused user does not exist afterwards.
    const n = ++counter;
    const who: Who = { username: `jesse${n}`, local: `pinkman.${n}` };
    const payload = { username: who.username, email: `${who.local}@example.org` };
    assertRefused(
      await t.app.inject({
        method: 'POST',
        url: '/api/admin/users',
        headers: bearer(admin),
        payload: { mustChangePassword: false, ...payload, password: fill(sc.bad, who) },
      }),
      sc.rule,
    );
    assert.equal(await t.s.users.findByName(who.username), undefined, 'nothing was created');
    const goodCreate = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, ...payload, password: fill(sc.good, who) },
    });
    assert.equal(goodCreate.statusCode, 201, goodCreate.body);

    // Admin set: refused leaves the hash alone; a good one is stored.
    const before = await userRow(userId);
    assertRefused(
      await t.app.inject({
        method: 'PUT',
        url: `/api/admin/users/${userId}/password`,
        headers: bearer(admin),
        payload: { mustChangePassword: false, password: fill(sc.bad) },
      }),
      sc.rule,
    );
    assert.deepEqual(await userRow(userId), before, 'admin set: nothing changed');
    current = fill(sc.good);
    const set = await t.app.inject({
      method: 'PUT',
      url: `/api/admin/users/${userId}/password`,
      headers: bearer(admin),
      payload: { mustChangePassword: false, password: current },
    });
    assert.equal(set.statusCode, 204, set.body);

    // Own change (needs the current password).
    const { token: own } = await login(t, USER.username, current);
    const before2 = await userRow(userId);
    assertRefused(
      await t.app.inject({ method: 'POST', url: '/api/auth/password', headers: bearer(own), payload: { currentPassword: current, newPassword: fill(sc.bad) } }),
      sc.rule,
    );
    assert.deepEqual(await userRow(userId), before2, 'own change: nothing changed');
    const next = fill(sc.good);
    const change = await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(own),
      payload: { currentPassword: current, newPassword: next },
    });
    assert.equal(change.statusCode, 200, change.body);
    current = next;

    // Reset link: a refused password leaves the link usable; a good one spends it.
    const token = await resetToken();
    const before3 = await userRow(userId);
    assertRefused(await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword: fill(sc.bad) } }), sc.rule);
    assert.deepEqual(await userRow(userId), before3, 'reset: nothing changed');
    current = fill(sc.good);
    const reset = await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token, newPassword: current } });
    assert.equal(reset.statusCode, 204, reset.body);
    await login(t, USER.username, current);
  });
}

/** Creating a user (registration) and the user's own change, with a password; the answers. */
async function createAndChange(
  password: string,
): Promise<{ create: { statusCode: number; json(): any; body: string }; change: { statusCode: number; json(): any; body: string } }> {
  const n = ++counter;
  const create = await t.app.inject({ method: 'POST', url: '/api/admin/users', headers: bearer(admin), payload: { username: `reg${n}`, password } });
  const { token: own } = await login(t, USER.username, current);
  const change = await t.app.inject({
    method: 'POST',
    url: '/api/auth/password',
    headers: bearer(own),
    payload: { currentPassword: current, newPassword: password },
  });
  if (change.statusCode === 200) current = password;
  return { create, change };
}

test('the default minimum is 15 characters: 14 are refused, 15 accepted, and no setting goes below 8 [ASVS V6.2.1]', async () => {
  await setPolicy({});
  const defaults = await t.app.inject({ method: 'GET', url: '/api/auth/password/policy' });
  assert.equal(defaults.json().minLength, 15);
  const short = await createAndChange(`Vkq-mirtlezo-${1000 + ++counter}`.slice(0, 14));
  assert.ok(short.create.json().error.details.rules.includes('PASSWORD_TOO_SHORT'), short.create.body);
  assert.ok(short.change.json().error.details.rules.includes('PASSWORD_TOO_SHORT'), short.change.body);
  const fifteen = await createAndChange(`Vkq-mirtlezo-${1000 + ++counter}`.slice(0, 15));
  assert.equal(fifteen.create.statusCode, 201, fifteen.create.body);
  assert.equal(fifteen.change.statusCode, 200, fifteen.change.body);
  for (const minLength of [7, 1, 0]) {
    const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(admin), payload: { minLength } });
    assert.equal(r.statusCode, 400, `minLength ${minLength}: ${r.body}`);
  }
  assert.equal((await t.app.inject({ method: 'GET', url: '/api/auth/password/policy' })).json().minLength, 15);
});

test('passwords of any composition are accepted by default: lower case only, digits only, spaces, symbols only, any script, emoji [ASVS V6.2.5]', async () => {
  await setPolicy({});
  const policy = (await t.app.inject({ method: 'GET', url: '/api/auth/password/policy' })).json();
  assert.deepEqual([policy.requireLowercase, policy.requireUppercase, policy.requireDigit, policy.requireSymbol], [false, false, false, false]);
  const u = () => 1000 + ++counter;
  for (const pw of [
    `quiet meadow under harbour lights ${u()}`.replace(/\d/g, (d) => 'abcdefghij'[Number(d)]!),
    `8317 2290 ${u()} 6645 0917 3`,
    `)(*&^%$#@!~}{][?><${u()}`.replace(/\d/g, '+'),
    `тихий луг у гавани ${u()}`.replace(/\d/g, 'ж'),
    `静かな港の灯りと草原の小道を歩く${u()}`,
    `🌊🏮🌾🚲🌙⛵️ zvorkel ${u()}`,
  ]) {
    const r = await createAndChange(pw);
    assert.equal(r.create.statusCode, 201, `${pw}: ${r.create.body}`);
    assert.equal(r.change.statusCode, 200, `${pw}: ${r.change.body}`);
    await login(t, USER.username, pw);
  }
});

test('long passwords are permitted: 64 and 128 characters set and sign in; no setting takes the maximum under 64 [ASVS V6.2.9]', async () => {
  await setPolicy({});
  for (const length of [64, 100, 128]) {
    const pw = `Harbour-${1000 + ++counter}-`.padEnd(length, 'lantern-meadow-');
    assert.equal([...pw].length, length);
    const r = await createAndChange(pw);
    assert.equal(r.create.statusCode, 201, r.create.body);
    assert.equal(r.change.statusCode, 200, r.change.body);
    await login(t, USER.username, pw);
  }
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(admin), payload: { maxLength: 63 } });
  assert.equal(r.statusCode, 400, r.body);
});

test('common and breached passwords that meet the length rule are refused at registration and at a change; an uncommon one of the same shape passes [ASVS V6.2.4, V6.2.12]', async () => {
  await setPolicy({});
  // Entries of the shipped list of common and breached passwords, each at least 15 characters long.
  for (const pw of ['qwertyuiopasdfghjkl', '123456789012345', 'passwordpassword', 'iloveyouiloveyou', '1qaz2wsx3edc4rfv', 'abcdefghijklmnop']) {
    const r = await createAndChange(pw);
    assertRefused(r.create, 'PASSWORD_BLOCKLISTED');
    assertRefused(r.change, 'PASSWORD_BLOCKLISTED');
  }
  const r = await createAndChange(`qwertyuiop-harbour-${1000 + ++counter}`);
  assert.equal(r.create.statusCode, 201, r.create.body);
  assert.equal(r.change.statusCode, 200, r.change.body);
});

test('the context words documented in docs/authentication.md are refused at registration and change: the product name, the username, and the configured list [ASVS V6.1.2, V6.2.11]', async () => {
  const doc = readFileSync(path.join(ROOT_DIR, 'docs/authentication.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Context words in passwords'));
  const product = /the product name: `([^`]+)`/.exec(section)?.[1];
  assert.equal(product, 'palisade', 'the built-in word is documented');
  assert.match(section, /`passwordPolicy\.contextWords` \(`PASSWORD_CONTEXT_WORDS`/);
  // The organisation's list, as the page says an operator sets it.
  await setPolicy({ contextWords: ['Northwind', 'project-bluefin'] });
  const u = () => 1000 + ++counter;
  for (const [pw, rule] of [
    [`My-${product!.toUpperCase()}-vault-${u()}`, 'PASSWORD_CONTEXT_WORD'],
    [`northwind-quartz-${u()}`, 'PASSWORD_CONTEXT_WORD'],
    [`zz-Project-Bluefin-${u()}`, 'PASSWORD_CONTEXT_WORD'],
    [`quartz-${USER.username}-lamp-${u()}`, 'PASSWORD_CONTAINS_USERNAME'],
  ] as const) {
    const r = await createAndChange(pw);
    assert.equal(r.change.statusCode, 400, `${pw}: ${r.change.body}`);
    assert.ok(r.change.json().error.details.rules.includes(rule), `${pw}: ${r.change.body}`);
    // A new user's own username is another: this one is heisenberg's, so only the change refuses it.
    if (rule === 'PASSWORD_CONTEXT_WORD') assert.equal(r.create.statusCode, 400, `${pw}: ${r.create.body}`);
  }
  // The control: without those words the same shapes pass.
  const ok = await createAndChange(`Southwind-quartz-lamp-${u()}`);
  assert.equal(ok.create.statusCode, 201, ok.create.body);
  assert.equal(ok.change.statusCode, 200, ok.change.body);
  await setPolicy({});
});

test('PASSWORD_REUSED: the last N passwords are refused on every path; older ones are allowed again', async () => {
  await setPolicy({ history: 2 });
  const id = await createUser(t, admin, 'recycler', 'Recycled-river-0001');
  const setPw = (password: string) =>
    t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/password`, headers: bearer(admin), payload: { mustChangePassword: false, password } });
  assert.equal((await setPw('Recycled-river-0002')).statusCode, 204);
  // History 2: the current and the previous password are refused.
  assertRefused(await setPw('Recycled-river-0002'), 'PASSWORD_REUSED');
  assertRefused(await setPw('Recycled-river-0001'), 'PASSWORD_REUSED');
  const { token: own } = await login(t, 'recycler', 'Recycled-river-0002');
  assertRefused(
    await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(own),
      payload: { currentPassword: 'Recycled-river-0002', newPassword: 'Recycled-river-0001' },
    }),
    'PASSWORD_REUSED',
  );
  assert.equal((await setPw('Recycled-river-0003')).statusCode, 204);
  // 0001 has left the window of two.
  assert.equal((await setPw('Recycled-river-0001')).statusCode, 204);
  // With no history, an own change still may not keep the current password.
  await setPolicy({ history: 0 });
  const { token: own2 } = await login(t, 'recycler', 'Recycled-river-0001');
  assertRefused(
    await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(own2),
      payload: { currentPassword: 'Recycled-river-0001', newPassword: 'Recycled-river-0001' },
    }),
    'PASSWORD_REUSED',
  );
  assert.equal((await setPw('Recycled-river-0001')).statusCode, 204, 'an administrator may set it again with history 0');
});

test('a refusal lists every failed rule at once, with what a UI needs to explain it', async () => {
  await setPolicy({
    minLength: 20,
    requireUppercase: true,
    requireDigit: true,
    requireSymbol: true,
    customRules: [{ pattern: '^\\S+$', message: 'No spaces' }],
  });
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'many', password: 'palisade many spaces' },
  });
  assert.equal(r.statusCode, 400);
  const d = r.json().error.details;
  assert.deepEqual(d.rules, [
    'PASSWORD_MISSING_UPPERCASE',
    'PASSWORD_MISSING_DIGIT',
    'PASSWORD_MISSING_SYMBOL',
    'PASSWORD_CONTAINS_USERNAME',
    'PASSWORD_CONTEXT_WORD',
    'PASSWORD_CUSTOM_RULE',
  ]);
  assert.deepEqual(
    d.failed.find((f: any) => f.code === 'PASSWORD_MISSING_SYMBOL'),
    { code: 'PASSWORD_MISSING_SYMBOL', symbols: '!@#$%^&*' },
  );
  assert.deepEqual(
    d.failed.find((f: any) => f.code === 'PASSWORD_CUSTOM_RULE'),
    { code: 'PASSWORD_CUSTOM_RULE', rule: 0, message: 'No spaces' },
  );
  const short = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'many', password: 'Ab1!' },
  });
  assert.deepEqual(short.json().error.details.failed[0], { code: 'PASSWORD_TOO_SHORT', min: 20 });
});

test('hashing DoS: an overlong password is refused before any hashing on every path, and nothing changes', async () => {
  await setPolicy({});
  const huge = 'Aa1!'.repeat(1250); // 5000 characters, past the 1024 hard bound
  const id = await createUser(t, admin, 'archer', 'Longshot-harbour-0001');
  const before = await userRow(id);
  const { token: own } = await login(t, 'archer', 'Longshot-harbour-0001');
  const answers = [
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: 'longshot2', password: huge },
    }),
    await t.app.inject({
      method: 'PUT',
      url: `/api/admin/users/${id}/password`,
      headers: bearer(admin),
      payload: { mustChangePassword: false, password: huge },
    }),
    await t.app.inject({
      method: 'POST',
      url: '/api/auth/password',
      headers: bearer(own),
      payload: { currentPassword: 'Longshot-harbour-0001', newPassword: huge },
    }),
    await t.app.inject({ method: 'POST', url: '/api/auth/password/reset', payload: { token: `${'x'.repeat(22)}.${'y'.repeat(43)}`, newPassword: huge } }),
    await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'archer', password: huge } }),
  ];
  for (const a of answers) assert.equal(a.json().error.code, 'VALIDATION_FAILED', a.body);
  // Under the hard bound but over the policy's maximum: refused by the rule, still without hashing.
  const over = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Aa1!'.repeat(200) },
  });
  assertRefused(over, 'PASSWORD_TOO_LONG');
  assert.deepEqual(await userRow(id), before);
  assert.equal(await t.s.users.findByName('longshot2'), undefined);
});

test('GET /api/auth/password/policy is public and shows no context words', async () => {
  await setPolicy({ contextWords: ['secret-codename'], requireDigit: true });
  const r = await t.app.inject({ method: 'GET', url: '/api/auth/password/policy' });
  assert.equal(r.statusCode, 200);
  const p = r.json();
  assert.equal(p.requireDigit, true);
  assert.equal(p.minLength, 15);
  assert.equal(p.blocklist, true);
  assert.equal('contextWords' in p, false);
  assert.doesNotMatch(r.body, /secret-codename/);
});

test('policy settings: only administrators, audited, checked for consistency and regex safety [ASVS V1.3.12, V2.2.3]', async () => {
  await setPolicy({});
  const { token: user } = await login(t, USER.username, current);
  const forbidden = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(user), payload: { minLength: 8 } });
  assert.equal(forbidden.json().error.code, 'FORBIDDEN');
  const get = await t.app.inject({ method: 'GET', url: '/api/admin/settings/password-policy', headers: bearer(admin) });
  const stored = get.json();

  const refused = [
    { minLength: 200, maxLength: 100 },
    { maxLength: 63 },
    { validity: 86400, reminder: 86400 },
    { symbols: 'ab' },
    { customRules: [{ pattern: '(a+)+$', message: 'nested' }] },
    // safe-regex2 passes this one; the backtracking probe catches it.
    { customRules: [{ pattern: '^(a|a)*$', message: 'ambiguous' }] },
    { customRules: [{ pattern: '(\\w)\\1', message: 'backreference' }] },
    { customRules: [{ pattern: '([', message: 'broken' }] },
  ];
  for (const body of refused) {
    const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/password-policy', headers: bearer(admin), payload: body });
    assert.ok([400].includes(r.statusCode), r.body);
    assert.ok(['SETTINGS_INVALID', 'VALIDATION_FAILED'].includes(r.json().error.code), r.body);
  }
  assert.deepEqual(
    (await t.app.inject({ method: 'GET', url: '/api/admin/settings/password-policy', headers: bearer(admin) })).json(),
    stored,
    'nothing was stored',
  );

  const ok = await t.app.inject({
    method: 'PATCH',
    url: '/api/admin/settings/password-policy',
    headers: bearer(admin),
    payload: { validity: 90 * 86400, customRules: [{ pattern: '^.{0,40}$', message: 'At most 40' }] },
  });
  assert.equal(ok.statusCode, 200, ok.body);
  const ev = (await events(t, admin, 'settings.changed')).find((e) => e.details.area === 'passwordPolicy');
  assert.ok(ev);
  assert.equal(ev.details.after.validity, 90 * 86400);
  assert.equal(ev.actor.name, ROOT.username);
  await setPolicy({ validity: 0 });
});

test('SSO-only users have no password: none can be set, none can be used', async () => {
  await setPolicy({});
  const r = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { username: 'ssoer', email: 'ssoer@example.org', ssoOnly: true },
  });
  assert.equal(r.statusCode, 201, r.body);
  const u = r.json().user;
  assert.equal(u.ssoOnly, true);
  assert.equal(u.hasPassword, false);
  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${u.id}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Sso-harbour-light-01' },
  });
  assert.equal(set.json().error.code, 'SSO_ONLY_USER');
  const link = await t.app.inject({ method: 'POST', url: `/api/admin/users/${u.id}/password/reset-link`, headers: bearer(admin) });
  assert.deepEqual([link.statusCode, link.json().error.details.reason], [409, 'sso_only']);
  const both = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'ssoer2', password: 'Sso-harbour-light-01', ssoOnly: true },
  });
  assert.equal(both.json().error.code, 'VALIDATION_FAILED');
  assert.equal((await t.s.users.get(u.id))!.password_hash, null);
});
