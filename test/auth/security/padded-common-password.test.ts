import { test } from 'node:test';
import assert from 'node:assert/strict';
import { login, bearer, createUser, type TestApp, useApp } from '../../helpers/app.js';

/**
 * Bug class: blocklist bypass by padding. A common password padded with digits and symbols got past
 * PASSWORD_BLOCKLIST once the padding was more than half of it ("Password123456789!"). Padding of any
 * share, l33t spellings, repeats and a word hidden among digits must all be caught, while a genuinely
 * strong passphrase still passes.
 */

const PADDED = [
  'Password123456789!',
  'PASSWORD-1234567890-!!!',
  '!!!!!!!!!!Password!!!!!!!!!!',
  '1234567890Dragon',
  'P@ssw0rd2024!!!!!!!!',
  '2024$ummer!',
  'Qwerty!!!!!!!!!!!!!!!!!1',
  'iloveyou123456789',
  'Football_99999999999',
  'Dragon!Dragon!2024',
  '123Monkey456Monkey789',
  'MyPassword2024!',
  'Sunshine#2024#2024#2024',
];

/**
 * The same class through other spellings: l33t copies joined by "!" or "1" (both also read as l33t
 * letters), fullwidth letters (NFKC), spaced or dotted letters, a word split by separators, accents.
 */
const SPELLED = [
  'Passw0rd!Passw0rd!',
  'passw0rd!passw0rd!',
  'Passw0rd1Passw0rd1',
  'M0nkey!M0nkey!M0nkey',
  'Pa55w0rd!Pa55w0rd!',
  'Dr@g0n!Dr@g0n!123',
  'Sh@d0w!Sh@d0w!2024',
  '\uff30\uff41\uff53\uff53\uff57\uff4f\uff52\uff44123456789!',
  'P a s s w o r d 1 2 3 !',
  'P.a.s.s.w.o.r.d.1!',
  'Pass-word-2024!!',
  'P\u00e4ssw\u00f6rd123456!',
  'Pa\u0308ssw\u00f6rd123456!',
  'Sh4d0wSh4d0wSh4d0w',
  'd-r-a-g-o-n-2024-!!!',
];

const STRONG = [
  'Correct-horse-battery-9',
  'Quiet-meadow-2931',
  'Ordinary-member-secret-77',
  'Target-of-the-fuzz-9931',
  'Ledger-checker-9901',
  'Operator-secret-91',
  'Gr\u00fcne-Wiese-am-See-48',
  '\uff2d\uff41\uff55\uff56\uff45-kettle-drifts-7',
  'mauve kettle drifts past 7 jolly bison',
  'Velvet-orbit-meadow-19',
  'zq8#Lk2!vB9@pX4$',
];

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

test('padded blocklist bypass: a common word padded with digits and symbols (any share, l33t, repeated) is refused as PASSWORD_BLOCKLISTED', async () => {
  let n = 0;
  for (const password of PADDED) {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: `padded${n++}`, password },
    });
    assert.equal(r.statusCode, 400, `${password}: ${r.body}`);
    assert.equal(r.json().error.code, 'PASSWORD_REJECTED');
    assert.ok(r.json().error.details.rules.includes('PASSWORD_BLOCKLISTED'), `${password}: ${r.body}`);
  }
  const id = await createUser(t, admin, 'paula', 'Granite-willow-parade-73');
  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Password123456789!' },
  });
  assert.equal(set.statusCode, 400);
  assert.ok(set.json().error.details.rules.includes('PASSWORD_BLOCKLISTED'));
  await login(t, 'paula', 'Granite-willow-parade-73');
});

test('padded blocklist bypass: l33t copies, fullwidth, spaced, dotted, split and accented spellings of a common word are refused as PASSWORD_BLOCKLISTED', async () => {
  let n = 0;
  for (const password of SPELLED) {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: `spelled${n++}`, password },
    });
    assert.equal(r.statusCode, 400, `${password}: ${r.body}`);
    assert.equal(r.json().error.code, 'PASSWORD_REJECTED');
    assert.ok(r.json().error.details.rules.includes('PASSWORD_BLOCKLISTED'), `${password}: ${r.body}`);
  }
  const id = await createUser(t, admin, 'spela', 'Granite-willow-parade-73');
  const set = await t.app.inject({
    method: 'PUT',
    url: `/api/admin/users/${id}/password`,
    headers: bearer(admin),
    payload: { mustChangePassword: false, password: 'Passw0rd1Passw0rd1' },
  });
  assert.equal(set.statusCode, 400);
  assert.ok(set.json().error.details.rules.includes('PASSWORD_BLOCKLISTED'));
  await login(t, 'spela', 'Granite-willow-parade-73');
});

test('padded blocklist bypass: genuinely strong passphrases and random passwords still pass, quickly', async () => {
  let n = 0;
  for (const password of STRONG) {
    const r = await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(admin),
      payload: { mustChangePassword: false, username: `strong${n++}`, password },
    });
    assert.equal(r.statusCode, 201, `${password}: ${r.body}`);
  }
  // The check stays cheap on the longest input it examines, made of many different pieces.
  const long = Array.from({ length: 200 }, (_, i) => `w${i.toString(36)}x`)
    .join('-')
    .slice(0, 1024);
  const started = Date.now();
  const c = await t.app.inject({
    method: 'POST',
    url: '/api/admin/users',
    headers: bearer(admin),
    payload: { mustChangePassword: false, username: 'longpw', password: long },
  });
  assert.deepEqual(c.json().error.details.rules, ['PASSWORD_TOO_LONG']);
  assert.ok(Date.now() - started < 2000);
});
