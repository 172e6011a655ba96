// Helpers for the passkey tests: the app listening on a real port whose origin is the configured WebAuthn
// origin, Debian's Chromium with a CDP virtual authenticator on a page of that origin, and the ceremonies
// run in the page with options fetched from the API (base64url <-> ArrayBuffer converted in the page).
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { CDPSession, Page } from 'playwright-core';
import { bearer, createUser, login, type MakeOptions, type Res, type TestApp } from '../../helpers/app.js';
import { openBrowser, virtualAuthenticator, type TestBrowser } from '../../helpers/browser.js';

export const PW = 'Quarterly-report-4411';

export const code = (r: Res): string | undefined => r.json().error?.code;

export function post(t: TestApp, url: string, payload: object, headers: Record<string, string> = {}) {
  return t.app.inject({ method: 'POST', url, payload, headers });
}

/** A port free right now, for the configured origin (the app then listens on it). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Options for makeApp/useApp: RP ID localhost, the one origin http://localhost:<port>. */
export function passkeyOptions(port: number, extraOrigins: string[] = [], o: MakeOptions = {}): MakeOptions {
  return { ...o, env: { WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: [`http://localhost:${port}`, ...extraOrigins].join(','), ...o.env } };
}

export interface Device {
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
}

/** One Chromium for a test file; each device is a context of it with its own virtual authenticator. */
export async function launch(): Promise<TestBrowser> {
  return openBrowser();
}

/** A device: a fresh browser context on a page of `origin` (a secure context: localhost) with a virtual authenticator. */
export async function openDevice(b: TestBrowser, origin: string): Promise<Device> {
  const context = await b.browser.newContext();
  const page = await context.newPage();
  const { cdp, authenticatorId } = await virtualAuthenticator(page);
  await page.goto(`${origin}/healthz`);
  return { page, cdp, authenticatorId };
}

// The page scripts are plain strings: tsx would add helpers to a compiled function that the page lacks.
const CODEC = `
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0));
  const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/[+]/g, '-').replace(/[/]/g, '_').replace(/=+$/, '');`;

/** navigator.credentials.create() with the API's options; the result in JSON, as a client posts it. */
export async function createCredential(page: Page, options: any): Promise<any> {
  return page.evaluate(`(async (o) => { ${CODEC}
    const c = await navigator.credentials.create({ publicKey: { ...o, challenge: dec(o.challenge), user: { ...o.user, id: dec(o.user.id) },
      excludeCredentials: (o.excludeCredentials || []).map((x) => ({ ...x, id: dec(x.id) })) } });
    return { id: c.id, rawId: enc(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment || undefined,
      response: { clientDataJSON: enc(c.response.clientDataJSON), attestationObject: enc(c.response.attestationObject), transports: c.response.getTransports() },
      clientExtensionResults: c.getClientExtensionResults() };
  })(${JSON.stringify(options)})`);
}

/** navigator.credentials.get() with the API's options (and the page's RP ID unless options name one). */
export async function getAssertion(page: Page, options: any): Promise<any> {
  return page.evaluate(`(async (o) => { ${CODEC}
    const c = await navigator.credentials.get({ publicKey: { ...o, challenge: dec(o.challenge), allowCredentials: (o.allowCredentials || []).map((x) => ({ ...x, id: dec(x.id) })) } });
    return { id: c.id, rawId: enc(c.rawId), type: c.type, authenticatorAttachment: c.authenticatorAttachment || undefined,
      response: { clientDataJSON: enc(c.response.clientDataJSON), authenticatorData: enc(c.response.authenticatorData), signature: enc(c.response.signature),
        ...(c.response.userHandle ? { userHandle: enc(c.response.userHandle) } : {}) },
      clientExtensionResults: c.getClientExtensionResults() };
  })(${JSON.stringify(options)})`);
}

/** Registers a passkey for the signed-in user on the device; answers the verify response. */
export async function register(t: TestApp, device: Device, token: string, name = 'Laptop', password = PW): Promise<Res> {
  const opts = await post(t, '/api/auth/passkeys/registration/options', { password }, bearer(token));
  assert.equal(opts.statusCode, 200, opts.body);
  const response = await createCredential(device.page, opts.json());
  return post(t, '/api/auth/passkeys/registration/verify', { response, name }, bearer(token));
}

/** Fresh sign-in options and an assertion for them from the device. */
export async function assertion(t: TestApp, device: Device): Promise<any> {
  const opts = await post(t, '/api/auth/passkeys/login/options', {});
  assert.equal(opts.statusCode, 200, opts.body);
  return getAssertion(device.page, opts.json());
}

export function signInWith(t: TestApp, response: unknown, extra: object = {}) {
  return post(t, '/api/auth/passkeys/login/verify', { response, ...extra });
}

/** A user with a password, signed in, with a passkey registered on the device. */
export async function userWithPasskey(t: TestApp, admin: string, device: Device, username: string): Promise<{ id: string; token: string; passkeyId: string }> {
  const id = await createUser(t, admin, username, PW);
  const { token } = await login(t, username, PW);
  const r = await register(t, device, token);
  assert.equal(r.statusCode, 201, r.body);
  return { id, token, passkeyId: r.json().passkey.id };
}

/** The authenticator's credentials (private keys included), as CDP gives them. */
export async function credentialsOf(device: Device): Promise<any[]> {
  return (await device.cdp.send('WebAuthn.getCredentials', { authenticatorId: device.authenticatorId })).credentials;
}
