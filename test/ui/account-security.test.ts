// The "Sign-in & security" screen against the real server: an authenticator app set up from the screen
// (the QR code and the secret shown, confirmed with a code computed here), recovery codes shown once and
// never again, new ones made, the factor removed with the password; the passkey section hidden where the
// server has passkeys off, and where it has them on a passkey registered through Chromium's virtual
// authenticator, renamed and removed; email codes shown only where an administrator offers them (ASVS V6.3.6).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import type { Page } from 'playwright-core';
import { bearer, createUser, login } from '../helpers/app.js';
import { virtualAuthenticator } from '../helpers/browser.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { freePort, passkeyOptions } from '../auth/passkeys/world.js';

const PW = 'Quarterly-report-4411';

/** A screenshot from the top of the page (dialogs and panels scroll it). */
async function snap(page: Page, name: string): Promise<void> {
  await page.evaluate('window.scrollTo(0, 0)');
  await shot(page, name);
}

async function openSecurity(page: Page): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Sign-in & security' }).click();
  await page.getByRole('heading', { name: 'Sign-in & security' }).waitFor();
  await page.getByRole('heading', { name: 'Authenticator app' }).waitFor();
}

/** Answers the password dialog (`password`) with the button `label`. */
async function confirmWith(page: Page, label: string, password = PW): Promise<void> {
  const dialog = page.getByRole('dialog');
  await dialog.getByLabel('Current password').fill(password);
  await dialog.getByRole('button', { name: label }).click();
}

/** The 6-digit code of the newest mail to `to` in the outbox (no SMTP here: DATA_DIR/outbox). */
async function mailedCode(w: UiWorld, to: string): Promise<string> {
  await w.t.s.tasks.drain();
  const dir = path.join(w.t.shared.dataDir, 'outbox');
  const files = existsSync(dir) ? readdirSync(dir).map((f) => path.join(dir, f)) : [];
  files.sort((a, b) => statSync(a).mtimeMs - statSync(b).mtimeMs || a.localeCompare(b));
  const codes = files
    .map((f) => readFileSync(f, 'utf8'))
    .filter((raw) => raw.includes(`To: ${to}`))
    .map((raw) => /^ {4}(\d{6})\r?$/m.exec(raw.replace(/=\r?\n/g, ''))?.[1])
    .filter((c) => c !== undefined);
  assert.ok(codes.length > 0, `a code was mailed to ${to}`);
  return codes.at(-1)!;
}

async function shownCodes(page: Page): Promise<string[]> {
  await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
  return page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem').allInnerTexts();
}

describe('admin UI: sign-in & security, second factors', () => {
  let w: UiWorld;
  let admin: string;
  const mfa = async (token: string) => (await w.t.app.inject({ method: 'GET', url: '/api/auth/mfa', headers: bearer(token) })).json();

  before(async () => {
    w = await startUi();
    admin = (await login(w.t)).token;
    await createUser(w.t, admin, 'tess', PW, { email: 'tess@example.org' });
    // Adaptive trust on: a full sign-in with the second factor records its address for the user.
    const on = await w.t.app.inject({ method: 'PATCH', url: '/api/admin/settings/mfa-ip', headers: bearer(admin), payload: { adaptive: true } });
    assert.equal(on.statusCode, 200, on.body);
  });
  after(async () => w?.close());

  it('sets up an authenticator app from the screen, shows the recovery codes once, makes new ones, removes the factor', async () => {
    const page = await w.newPage();
    await signIn(page, w.base, 'tess', PW);
    await openSecurity(page);
    const tess = (await login(w.t, 'tess', PW)).token;
    assert.deepEqual((await mfa(tess)).available, { sms: false, passkeys: false, email: false });
    // Passkeys and SMS are off on this server, and email codes are not offered (the default): their sections are not shown.
    await page.getByRole('heading', { name: 'Authenticator app' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Email codes' }).count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Passkeys' }).count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Text-message codes' }).count(), 0);
    await page.getByRole('heading', { name: 'Trusted addresses' }).waitFor();
    await page.getByText('No addresses recorded.').waitFor();
    await snap(page, 'security-start');

    // A wrong password is refused in words, and does not sign the user out.
    await page.getByRole('button', { name: 'Set up authenticator app' }).click();
    await confirmWith(page, 'Continue', 'Wrong-password-0000');
    await page.getByRole('dialog').getByRole('alert').filter({ hasText: 'That password is not right.' }).waitFor();
    await shot(page, 'security-password-dialog');
    await confirmWith(page, 'Continue');
    const secret = await page.getByLabel('Secret', { exact: true }).inputValue();
    assert.match(secret, /^[A-Z2-7]{32}$/);
    const qr = page.getByRole('img', { name: 'QR code to scan with your authenticator app' });
    assert.match((await qr.getAttribute('src')) ?? '', /^data:image\/png;base64,/);
    assert.ok(await qr.evaluate((img) => (img as HTMLImageElement).naturalWidth > 0), 'the QR code is drawn (CSP allows data: images)');
    assert.equal((await mfa(tess)).totp, 'pending');
    await snap(page, 'security-totp-setup');

    // A wrong code does not confirm it; the code of the app does.
    const at = (steps: number) => TOTP.generate({ secret: Secret.fromBase32(secret), timestamp: w.t.clock.t + steps * 30_000 });
    await page.getByLabel('Code from the app').fill(at(10));
    await page.getByRole('button', { name: 'Confirm' }).click();
    await page.getByRole('alert').filter({ hasText: 'That code is not right' }).waitFor();
    await page.getByLabel('Code from the app').fill(at(0));
    await page.getByRole('button', { name: 'Confirm' }).click();
    const codes = await shownCodes(page);
    assert.equal(codes.length, 10);
    await page.getByText('Store these now.').waitFor();
    await page.getByRole('heading', { name: 'Authenticator app' }).locator('..').getByText('On', { exact: true }).waitFor();
    await snap(page, 'security-recovery-codes');
    const st = await mfa(tess);
    assert.deepEqual([st.totp, st.recoveryCodesRemaining], ['confirmed', 10]);

    // The codes shown are the real ones: one finishes a sign-in.
    const first = await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'tess', password: PW } });
    assert.equal(first.json().error.code, 'MFA_REQUIRED');
    const verified = await w.t.app.inject({
      method: 'POST',
      url: '/api/auth/mfa/verify',
      payload: { challengeToken: first.json().error.details.challengeToken, method: 'recovery', code: codes[0] },
    });
    assert.equal(verified.statusCode, 200, verified.body);

    // Shown once: gone when dismissed, and not there after a reload.
    await page.getByRole('button', { name: 'I have stored them' }).click();
    await page.reload();
    await page.getByRole('heading', { name: 'Recovery codes' }).waitFor();
    await page.getByText('9 left').waitFor();
    const html = await page.content();
    for (const c of codes) assert.equal(html.includes(c), false, 'a recovery code is never shown again');
    assert.equal(await page.getByRole('heading', { name: 'Your recovery codes' }).count(), 0);
    await snap(page, 'security-totp-on');

    // The recovery-code sign-in above counted for its address: listed, and forgotten from the screen.
    const listed = async () => (await w.t.app.inject({ method: 'GET', url: '/api/auth/mfa/trusted-addresses', headers: bearer(tess) })).json().addresses;
    assert.equal((await listed()).length, 1);
    await page.getByRole('cell', { name: '127.0.0.1', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Forget 127.0.0.1' }).click();
    await page.getByRole('status').filter({ hasText: '127.0.0.1 forgotten' }).waitFor();
    await page.getByText('No addresses recorded.').waitFor();
    assert.deepEqual(await listed(), []);

    // New codes: shown once, the old ones replaced.
    await page.getByRole('button', { name: 'Make new recovery codes' }).click();
    await confirmWith(page, 'Make new codes');
    const fresh = await shownCodes(page);
    assert.equal(fresh.length, 10);
    assert.ok(fresh.every((c) => !codes.includes(c)));
    await page.getByText('10 left').waitFor();
    await page.getByRole('button', { name: 'I have stored them' }).click();

    // Removing the factor needs the password.
    await page.getByRole('button', { name: 'Remove authenticator app' }).click();
    await confirmWith(page, 'Remove');
    await page.getByRole('button', { name: 'Set up authenticator app' }).waitFor();
    const after = await mfa(tess);
    assert.deepEqual([after.totp, after.recoveryCodesRemaining, after.methods], ['none', 0, []]);
    assert.equal((await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'tess', password: PW } })).statusCode, 200);
    assertClean(w);
  });

  it('email codes: offered once an administrator turns them on in the security settings; withdrawn, the screen says so and only lets them go [ASVS V6.3.6]', async () => {
    await createUser(w.t, admin, 'uma', PW, { email: 'uma@example.org' });
    const settingsPage = await w.newPage();
    await signIn(settingsPage, w.base);
    const emailCodes = async (on: boolean) => {
      await settingsPage.goto(`${w.base}/admin/settings`);
      const area = settingsPage.getByRole('region', { name: 'Second factor', exact: true });
      const box = area.getByRole('checkbox', { name: 'Email codes' });
      assert.equal(await box.isChecked(), !on);
      await box.setChecked(on);
      await area.getByRole('button', { name: 'Save second factor' }).click();
      await area.getByRole('status').filter({ hasText: 'Second factor saved.' }).waitFor();
      const saved = await w.t.app.inject({ method: 'GET', url: '/api/admin/settings/mfa', headers: bearer((await login(w.t)).token) });
      assert.equal(saved.json().emailCodes, on);
    };

    // Offered: the section is there, and the factor is set up from it with the mailed code.
    await emailCodes(true);
    const page = await w.newPage();
    await signIn(page, w.base, 'uma', PW);
    await openSecurity(page);
    const section = page.getByRole('region', { name: 'Email codes' });
    await section.getByRole('button', { name: 'Turn on email codes' }).click();
    await confirmWith(page, 'Send code');
    await section.getByRole('status').filter({ hasText: 'A code was mailed to' }).waitFor();
    await section.getByLabel('Code from the mail').fill(await mailedCode(w, 'uma@example.org'));
    await section.getByRole('button', { name: 'Turn on' }).click();
    assert.equal((await shownCodes(page)).length, 10);
    await page.getByRole('button', { name: 'I have stored them' }).click();
    await section.getByText('On', { exact: true }).waitFor();

    // Withdrawn: the screen says it no longer counts and offers only to turn it off; then the section is gone.
    await emailCodes(false);
    await page.reload();
    await section.getByText('no longer accepts email codes at sign-in').waitFor();
    await section.getByText('Not accepted', { exact: true }).waitFor();
    assert.equal(await section.getByRole('button', { name: 'Turn on email codes' }).count(), 0);
    await snap(page, 'security-email-withdrawn');
    await section.getByRole('button', { name: 'Turn off email codes' }).click();
    await confirmWith(page, 'Turn off');
    await page.getByRole('heading', { name: 'Authenticator app' }).waitFor();
    await section.waitFor({ state: 'detached' });
    const uma = (await login(w.t, 'uma', PW)).token;
    assert.deepEqual([(await mfa(uma)).email.enabled, (await mfa(uma)).available.email], [false, false]);
    assertClean(w);
  });
});

describe('admin UI: sign-in & security, passkeys', () => {
  let w: UiWorld;
  let admin: string;

  before(async () => {
    const port = await freePort();
    // An SMS gateway too (nothing listens there): the text-message factor is offered beside the passkeys.
    const sms = { SMS_KANNEL_URL: 'http://127.0.0.1:9/cgi-bin/sendsms', SMS_KANNEL_USER: 'palisade', SMS_KANNEL_PASSWORD: 'Kannel-secret-1234' };
    w = await startUi(passkeyOptions(port, [], { env: sms }), { port, hostname: 'localhost' });
    admin = (await login(w.t)).token;
    await createUser(w.t, admin, 'pia', PW);
  });
  after(async () => w?.close());

  it('text-message codes are offered with their risks spelled out, beside the stronger authenticator app and passkeys [ASVS V6.6.1]', async () => {
    await createUser(w.t, admin, 'sol', PW);
    const page = await w.newPage();
    await signIn(page, w.base, 'sol', PW);
    await openSecurity(page);
    const section = page.getByRole('region', { name: 'Text-message codes' });
    await section.waitFor();
    await section.getByText(/weakest second factor/).waitFor();
    assert.match((await section.textContent()) ?? '', /another SIM card.*An authenticator app or a passkey is\s+safer/s);
    // The stronger factors are there to choose instead.
    await page.getByRole('heading', { name: 'Authenticator app' }).waitFor();
    await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
    assertClean(w);
  });

  it("registers a passkey through the browser's authenticator, renames it and removes it", async () => {
    const page = await w.newPage();
    const { cdp, authenticatorId } = await virtualAuthenticator(page);
    await signIn(page, w.base, 'pia', PW);
    await openSecurity(page);
    await page.getByRole('heading', { name: 'Passkeys' }).waitFor();
    await page.getByText('No passkeys yet.').waitFor();

    await page.getByLabel('Name of the new passkey').fill('Work laptop');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await confirmWith(page, 'Continue');
    // The first second factor brings the recovery codes, shown once.
    assert.equal((await shownCodes(page)).length, 10);
    await page.getByRole('button', { name: 'I have stored them' }).click();
    await page.getByRole('cell', { name: 'Work laptop', exact: true }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Passkey “Work laptop” added.' }).waitFor();
    const creds = (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    assert.equal(creds.length, 1, 'the authenticator holds the new passkey');
    const pw = await w.t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'pia', password: PW } });
    assert.equal(pw.json().error?.code, 'MFA_REQUIRED', 'a passkey is a second factor: the password alone no longer signs in');
    await snap(page, 'security-passkeys');
    await page.setViewportSize({ width: 390, height: 800 });
    await snap(page, 'security-passkeys-phone');
    await page.setViewportSize({ width: 1280, height: 800 });

    await page.getByRole('button', { name: 'Rename Work laptop' }).click();
    await page.getByLabel('New name for Work laptop').fill('Phone');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'Phone', exact: true }).waitFor();
    const rows = await w.t.s.db.selectFrom('passkeys').select('name').execute();
    assert.deepEqual(
      rows.map((r) => r.name),
      ['Phone'],
    );

    await page.getByRole('button', { name: 'Remove Phone' }).click();
    await confirmWith(page, 'Remove');
    await page.getByText('No passkeys yet.').waitFor();
    assert.equal((await w.t.s.db.selectFrom('passkeys').select('id').execute()).length, 0);
    assertClean(w);
  });
});
