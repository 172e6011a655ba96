// AUTH-12 recovery codes: a sign-in with one (any spelling: case, spaces, dashes), each works once,
// regenerating needs the password and voids the old set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../../helpers/cli.js';
import { bearer, events, useApp, type TestApp } from '../../helpers/app.js';
import { PW, challenge, code, post, userWithTotp, verify } from './world.js';

let t: TestApp;
let admin: string;
useApp((app, token) => {
  t = app;
  admin = token;
});

const status = async (token: string) => (await t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();

test('a recovery code completes a sign-in, in any spelling, and counts down', async () => {
  const ivy = await userWithTotp(t, admin, 'ivy');
  const d = await challenge(t, 'ivy');
  const typed = ` ${ivy.recoveryCodes[0]!.toUpperCase().replace(/-/g, ' ')} `;
  const r = await verify(t, d.challengeToken, 'recovery', typed);
  assert.equal(r.statusCode, 200, r.body);
  assert.equal((await status(ivy.token)).recoveryCodesRemaining, 9);
  const ev = (await events(t, admin, 'mfa.verified')).find((x) => x.subjectId === ivy.id && x.outcome === 'success');
  assert.equal(ev!.details.method, 'recovery');
  // Not a code of this user's set: refused.
  const e = await challenge(t, 'ivy');
  assert.equal(code(await verify(t, e.challengeToken, 'recovery', 'aaaa-bbbb-cccc-dddd')), 'MFA_CODE_INVALID');
});

test('regenerating needs the password, shows ten new codes once and voids the old ones [ASVS V7.5.1, V6.5.6]', async () => {
  const jo = await userWithTotp(t, admin, 'jo');
  const regen = (password: string) => post(t, '/api/auth/mfa/recovery-codes', { password }, bearer(jo.token));
  assert.equal(code(await regen('Wrong-password-0000')), 'INVALID_CREDENTIALS');
  const r = await regen(PW);
  assert.equal(r.statusCode, 200, r.body);
  const fresh: string[] = r.json().recoveryCodes;
  assert.equal(fresh.length, 10);
  assert.equal(fresh.filter((c) => jo.recoveryCodes.includes(c)).length, 0);
  const d = await challenge(t, 'jo');
  assert.equal(code(await verify(t, d.challengeToken, 'recovery', jo.recoveryCodes[1]!)), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, d.challengeToken, 'recovery', fresh[1]!)).statusCode, 200);
  assert.equal((await status(jo.token)).recoveryCodesRemaining, 9);
  const evs = (await events(t, admin, 'mfa.recovery_codes_created')).filter((x) => x.subjectId === jo.id);
  assert.deepEqual(
    evs.map((x) => x.outcome),
    ['success', 'failure'],
  );
});

test('no factor, no recovery codes to regenerate', async () => {
  const r = await post(t, '/api/auth/mfa/recovery-codes', { password: 'Correct-horse-battery-9' }, bearer(admin));
  assert.equal(code(r), 'MFA_METHOD_UNAVAILABLE');
});

test('recovery codes carry at least 112 random bits, so a plain SHA-256 of each is all that is stored; a set made before D400 still works [ASVS V6.5.2, V6.5.4]', async () => {
  const kim = await userWithTotp(t, admin, 'kim');
  const ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';
  const codes = kim.recoveryCodes.map((c) => c.replace(/-/g, ''));
  for (const c of codes) {
    assert.equal(c.length, 24, c);
    assert.ok(
      [...c].every((ch) => ALPHABET.includes(ch)),
      c,
    );
  }
  assert.ok(24 * Math.log2(ALPHABET.length) >= 112, 'at least 112 bits each');
  assert.equal(new Set(codes).size, 10);
  // Stored: the SHA-256 of each code, nothing else that holds it.
  const rows = await t.s.db.selectFrom('mfa_recovery_codes').selectAll().where('user_id', '=', kim.id).execute();
  const sha = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
  assert.deepEqual(rows.map((r) => r.code_hash).sort(), codes.map(sha).sort());
  for (const c of codes) assert.ok(!JSON.stringify(rows).includes(c));
  // A 16-letter code of an earlier set (about 79 bits) is still honoured until the user makes new codes.
  const legacy = 'abcdefghjkmnpqrs';
  await t.s.db
    .insertInto('mfa_recovery_codes')
    .values({ id: 'legacy-recovery-code-1', user_id: kim.id, code_hash: sha(legacy), created_at: t.clock.now(), used_at: null })
    .execute();
  const d = await challenge(t, 'kim');
  assert.equal(code(await verify(t, d.challengeToken, 'recovery', 'abcd-efgh-jkmn-pqrt')), 'MFA_CODE_INVALID');
  assert.equal((await verify(t, d.challengeToken, 'recovery', 'abcd-efgh-jkmn-pqrs')).statusCode, 200);
});

test('the second factor makes its secrets with node:crypto: TOTP seeds and recovery codes differ between users, and no secret-making module calls Math.random [ASVS V6.5.3]', async () => {
  const a = await userWithTotp(t, admin, 'lee');
  const b = await userWithTotp(t, admin, 'max');
  assert.notEqual(a.secret, b.secret);
  assert.equal(a.recoveryCodes.filter((c) => b.recoveryCodes.includes(c)).length, 0);
  // 160-bit seeds (32 base32 letters).
  for (const s of [a.secret, b.secret]) assert.match(s, /^[A-Z2-7]{32}$/);
  // The generators: each draws from node:crypto, none from Math.random (predictable).
  const dir = path.join(ROOT_DIR, 'src');
  // Mailed and texted codes share email-code.ts; reset and other link tokens come from split-token.ts.
  const makers = ['auth/mfa/totp.ts', 'auth/mfa/recovery.ts', 'auth/mfa/email-code.ts', 'auth/passkeys/challenges.ts', 'auth/split-token.ts'];
  for (const f of makers) {
    const src = readFileSync(path.join(dir, f), 'utf8');
    assert.match(src, /from 'node:crypto'/, f);
    assert.doesNotMatch(src, /Math\.random/, f);
  }
});
