// AUTH-12, IP as a factor: the `mfaIp` settings area; a static range, an allowed country or adaptive trust
// (N full sign-ins with the second factor from the same address within a period) lets a password sign-in skip
// the second factor only when `skipSecondFactor` is on; required users keep the factor unless the setting
// says otherwise; users and administrators list and forget addresses; an administrator's reset forgets them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, useApp, type Res, type TestApp } from '../../helpers/app.js';
import { PW, code, totp, userWithTotp } from './world.js';

let t: TestApp;
let admin: string;
useApp(
  (app, token) => {
    t = app;
    admin = token;
  },
  {},
  true,
);

const setIp = async (patch: object): Promise<Res> =>
  t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa-ip', headers: bearer(admin), payload: patch });
const ipSettings = async (patch: object) => {
  const r = await setIp(patch);
  assert.equal(r.statusCode, 200, r.body);
};
const signInFrom = (ip: string, username: string) =>
  t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password: PW }, remoteAddress: ip });

/** A full sign-in with the TOTP second step, both steps from `ip`; the clock moves a step so each code is fresh. */
async function fullSignIn(ip: string, username: string, secret: string): Promise<string> {
  const first = await signInFrom(ip, username);
  assert.equal(code(first), 'MFA_REQUIRED', first.body);
  t.clock.advance(30);
  const second = await t.app.inject({
    method: 'POST',
    url: '/api/auth/mfa/verify',
    payload: { challengeToken: first.json().error.details.challengeToken, method: 'totp', code: totp(t, secret) },
    remoteAddress: ip,
  });
  assert.equal(second.statusCode, 200, second.body);
  return second.json().token;
}

const skips = async () => (await events(t, admin, 'mfa.skipped_trusted_address')).map((e) => e.details.reason);

test('the mfaIp area: secure defaults, bounded, audited; ranges must parse and not be too wide', async () => {
  const got = await t.app.inject({ method: 'GET', url: '/api/admin/settings/mfa-ip', headers: bearer(admin) });
  assert.deepEqual(got.json(), {
    skipSecondFactor: false,
    requiredUsersToo: false,
    trustedRanges: [],
    trustedCountries: [],
    adaptive: false,
    adaptiveSuccesses: 3,
    adaptivePeriod: 30 * 86400,
  });
  for (const bad of [{ trustedRanges: ['1.2.3'] }, { trustedRanges: ['0.0.0.0/0'] }, { trustedRanges: ['10.0.0.0/7'] }, { trustedRanges: ['2001:db8::/16'] }]) {
    assert.equal(code(await setIp(bad)), 'SETTINGS_INVALID', JSON.stringify(bad));
  }
  for (const bad of [{ trustedRanges: ['not-an-ip'] }, { trustedCountries: ['de'] }, { adaptiveSuccesses: 0 }, { adaptivePeriod: 60 }, { other: 1 }]) {
    assert.equal(code(await setIp(bad)), 'VALIDATION_FAILED', JSON.stringify(bad));
  }
  assert.deepEqual(
    (await t.app.inject({ method: 'GET', url: '/api/admin/settings/mfa-ip', headers: bearer(admin) })).json().trustedRanges,
    [],
    'nothing stored',
  );
  await ipSettings({ trustedRanges: ['203.0.113.0/24'] });
  assert.ok((await events(t, admin, 'settings.changed')).some((e) => e.details.area === 'mfaIp'));
});

test('a static range skips the second factor only with skipSecondFactor on, only inside the range', async () => {
  await userWithTotp(t, admin, 'ann');
  await ipSettings({ trustedRanges: ['203.0.113.0/24'] });
  assert.equal(code(await signInFrom('203.0.113.9', 'ann')), 'MFA_REQUIRED', 'trusted, but skipping is off by default');
  assert.deepEqual(await skips(), []);
  await ipSettings({ skipSecondFactor: true });
  const ok = await signInFrom('203.0.113.9', 'ann');
  assert.equal(ok.statusCode, 200, ok.body);
  assert.ok(ok.json().token);
  assert.deepEqual(await skips(), ['static']);
  assert.equal(code(await signInFrom('198.51.100.9', 'ann')), 'MFA_REQUIRED', 'outside the range');
  assert.equal(
    code(
      await t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        payload: { username: 'ann', password: 'Wrong-password-1234' },
        remoteAddress: '203.0.113.9',
      }),
    ),
    'INVALID_CREDENTIALS',
    'the password is still needed',
  );
});

test('adaptive trust: not before N full sign-ins, then the address skips; another address does not; IPv6 by /64 [ASVS V8.2.4]', async () => {
  const { secret } = await userWithTotp(t, admin, 'bob');
  await ipSettings({ adaptive: true, skipSecondFactor: true });
  await fullSignIn('198.51.100.7', 'bob', secret);
  const token = await fullSignIn('198.51.100.7', 'bob', secret);
  assert.equal(code(await signInFrom('198.51.100.7', 'bob')), 'MFA_REQUIRED', 'two of three');
  let list = (await t.app.inject({ method: 'GET', url: '/api/auth/mfa/trusted-addresses', headers: bearer(token) })).json().addresses;
  assert.deepEqual(
    list.map((a: { address: string; successes: number; trusted: boolean }) => [a.address, a.successes, a.trusted]),
    [['198.51.100.7', 2, false]],
  );
  await fullSignIn('198.51.100.7', 'bob', secret);
  const ok = await signInFrom('198.51.100.7', 'bob');
  assert.equal(ok.statusCode, 200, ok.body);
  assert.deepEqual(await skips(), ['adaptive']);
  assert.equal((await events(t, admin, 'mfa.address_trusted')).length, 1);
  assert.equal(code(await signInFrom('198.51.100.8', 'bob')), 'MFA_REQUIRED', 'trust is per address');
  list = (await t.app.inject({ method: 'GET', url: '/api/auth/mfa/trusted-addresses', headers: bearer(ok.json().token) })).json().addresses;
  assert.equal(list[0].trusted, true);

  await ipSettings({ adaptiveSuccesses: 1 });
  await fullSignIn('2001:db8:1:2::1', 'bob', secret);
  assert.equal((await signInFrom('2001:db8:1:2:aaaa::9', 'bob')).statusCode, 200, 'the same /64');
  assert.equal(code(await signInFrom('2001:db8:1:3::1', 'bob')), 'MFA_REQUIRED', 'another /64');
});

test('adaptive trust ends with its period; successes are per user', async () => {
  const bob = await userWithTotp(t, admin, 'bob');
  await userWithTotp(t, admin, 'cat');
  await ipSettings({ adaptive: true, skipSecondFactor: true, adaptiveSuccesses: 2, adaptivePeriod: 86400 });
  await fullSignIn('198.51.100.7', 'bob', bob.secret);
  await fullSignIn('198.51.100.7', 'bob', bob.secret);
  assert.equal((await signInFrom('198.51.100.7', 'bob')).statusCode, 200);
  assert.equal(code(await signInFrom('198.51.100.7', 'cat')), 'MFA_REQUIRED', "bob's address is not cat's");
  t.clock.advance(86400);
  assert.equal(code(await signInFrom('198.51.100.7', 'bob')), 'MFA_REQUIRED', 'the period is over');
  // A new window: one success is not two.
  await fullSignIn('198.51.100.7', 'bob', bob.secret);
  assert.equal(code(await signInFrom('198.51.100.7', 'bob')), 'MFA_REQUIRED');
});

test('forgetting: the user and an administrator forget addresses (audited); the next sign-in needs the factor; a reset forgets all', async () => {
  const bob = await userWithTotp(t, admin, 'bob');
  const cat = await userWithTotp(t, admin, 'cat');
  await ipSettings({ adaptive: true, skipSecondFactor: true, adaptiveSuccesses: 1 });
  const bobToken = await fullSignIn('198.51.100.7', 'bob', bob.secret);
  await fullSignIn('198.51.100.8', 'bob', bob.secret);
  await fullSignIn('198.51.100.7', 'cat', cat.secret);
  const mine = async (token: string) =>
    (await t.app.inject({ method: 'GET', url: '/api/auth/mfa/trusted-addresses', headers: bearer(token) })).json().addresses;
  const [first] = (await mine(bobToken)).filter((a: { address: string }) => a.address === '198.51.100.7');
  const catId = (await t.app.inject({ method: 'GET', url: `/api/admin/users/${cat.id}/trusted-addresses`, headers: bearer(admin) })).json().addresses[0].id;
  const del = (url: string, token: string) => t.app.inject({ method: 'DELETE', url, headers: bearer(token) });
  assert.equal(code(await del(`/api/auth/mfa/trusted-addresses/${catId}`, bobToken)), 'NOT_FOUND', "another user's address");
  assert.equal((await del(`/api/auth/mfa/trusted-addresses/${first.id}`, bobToken)).statusCode, 204);
  assert.equal(code(await del(`/api/auth/mfa/trusted-addresses/${first.id}`, bobToken)), 'NOT_FOUND', 'gone');
  assert.equal(code(await signInFrom('198.51.100.7', 'bob')), 'MFA_REQUIRED', 'forgotten');
  assert.equal((await signInFrom('198.51.100.7', 'cat')).statusCode, 200, "cat's is still there");

  assert.equal((await del(`/api/admin/users/${cat.id}/trusted-addresses/${catId}`, admin)).statusCode, 204);
  assert.equal(code(await signInFrom('198.51.100.7', 'cat')), 'MFA_REQUIRED');
  const forgotten = await events(t, admin, 'mfa.trusted_address_forgotten');
  assert.deepEqual(forgotten.map((e) => [e.details.address, e.details.byAdmin]).sort(), [
    ['198.51.100.7', false],
    ['198.51.100.7', true],
  ]);
  assert.equal(code(await t.app.inject({ method: 'GET', url: '/api/admin/users/nobody/trusted-addresses', headers: bearer(admin) })), 'NOT_FOUND');

  // An administrator's reset forgets the rest with the factors.
  assert.equal(
    (
      await t.app.inject({
        method: 'POST',
        url: `/api/admin/users/${bob.id}/mfa/reset`,
        headers: bearer(admin),
        payload: { identityCheck: { method: 'in_person', reference: 'ticket 1' } },
      })
    ).statusCode,
    200,
  );
  assert.deepEqual((await t.app.inject({ method: 'GET', url: `/api/admin/users/${bob.id}/trusted-addresses`, headers: bearer(admin) })).json().addresses, []);
});

test('users the policy requires keep the factor on a trusted address unless requiredUsersToo; a country never counts for them', async () => {
  await userWithTotp(t, admin, 'dan');
  await ipSettings({ skipSecondFactor: true, trustedRanges: ['203.0.113.0/24'], trustedCountries: ['DE'] });
  assert.equal((await signInFrom('2a02:2e0::1', 'dan')).statusCode, 200, 'a German address, not required');
  assert.equal(code(await signInFrom('81.2.69.142', 'dan')), 'MFA_REQUIRED', 'a British address');
  assert.deepEqual(await skips(), ['country']);
  const r = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { required: 'everyone' } });
  assert.equal(r.statusCode, 200, r.body);
  assert.equal(code(await signInFrom('203.0.113.9', 'dan')), 'MFA_REQUIRED', 'required: the factor stays');
  await ipSettings({ requiredUsersToo: true });
  assert.equal((await signInFrom('203.0.113.9', 'dan')).statusCode, 200, 'requiredUsersToo: a static range counts');
  assert.equal(code(await signInFrom('2a02:2e0::1', 'dan')), 'MFA_REQUIRED', 'a country never does for a required user');
});

test('a user without a factor who must enrol still gets the enrolment token from a trusted address', async () => {
  await createUser(t, admin, 'eve', PW);
  await ipSettings({ skipSecondFactor: true, requiredUsersToo: true, trustedRanges: ['203.0.113.0/24'] });
  await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa', headers: bearer(admin), payload: { required: 'everyone' } });
  assert.equal(code(await signInFrom('203.0.113.9', 'eve')), 'MFA_ENROLMENT_REQUIRED');
});
