import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { go, Jar } from './browser.js';
import { api, callbackOf, eventsOf, me, SESSION_COOKIE, startPalisade, type SsoWorld } from './world.js';
import { freePort } from '../passkeys/world.js';
import { lemonldapInstalled, startLemonldap, type CasServer } from '../../helpers/lemonldap.js';

// AUTH-13, CAS 3.0 against a real CAS server (LemonLDAP::NG's portal under plackup, Demo users): the login
// redirect with the flow's state inside the service address, the ticket validated at /p3/serviceValidate,
// attributes into claims, a user created just in time through the one funnel; and the refusals: a replayed
// callback, a ticket used again in another flow, a ticket without a flow or from another browser, a made-up
// ticket, a server that is down, bad settings.

describe('CAS sign-in against LemonLDAP::NG', { skip: !lemonldapInstalled() && 'lemonldap-ng is not installed' }, () => {
  let w: SsoWorld;
  let cas: CasServer;

  /** Starts at Palisade, signs in at the CAS server, answers the callback address with its ticket (not yet followed). */
  async function toCallback(jar: Jar, slug: string, user: string): Promise<string> {
    const start = await go(jar, `${w.base}/api/auth/sso/${slug}/start`);
    assert.equal(start.status, 302, await start.text());
    const login = start.headers.get('location')!;
    assert.ok(login.startsWith(`${cas.casUrl}/login?service=`), login);
    const page = await go(jar, login);
    const html = await page.text();
    assert.equal(page.status, 200, html.slice(0, 300));
    const fields: Record<string, string> = {};
    for (const m of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[m[1]!] = m[2]!;
    const res = await go(jar, login, {
      method: 'POST',
      body: new URLSearchParams({ ...fields, user, password: user }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(res.status, 302, (await res.text()).slice(0, 300));
    const back = res.headers.get('location')!;
    assert.ok(back.startsWith(`${callbackOf(w, slug)}?state=`), back);
    assert.match(back, /[?&]ticket=ST-/);
    return back;
  }

  async function refused(jar: Jar, url: string, reason: RegExp, code = 'SSO_FAILED') {
    const res = await go(jar, url);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), `/sign-in#error=${code}`);
    assert.equal(jar.get(w.base, SESSION_COOKIE), undefined);
    const events = (await eventsOf(w, 'sso.login')).filter((e) => e.outcome === 'failure');
    assert.ok(
      events.some((e) => reason.test(String(e.details.reason))),
      `${reason}: ${JSON.stringify(events.slice(0, 3).map((e) => e.details.reason))}`,
    );
  }

  before(async () => {
    w = await startPalisade();
    cas = await startLemonldap();
    assert.equal((await api(w, 'POST', '/api/admin/roles', { name: 'editors' })).status, 201);
    const r = await api(w, 'POST', '/api/admin/sso/providers', {
      slug: 'cas',
      type: 'cas',
      displayName: 'Campus CAS',
      mappings: [{ claim: 'cn', value: 'Doctor Who', roles: ['editors'], departments: [] }],
      emailDomains: ['badwolf.org'],
      cas: { serverUrl: cas.casUrl, emailVerified: true },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.provider.callbackUrl, callbackOf(w, 'cas'));
  });
  after(async () => {
    await w?.close();
    await cas?.close();
  });

  it('a full sign-in: ticket validated, attributes into claims and the mapping, a user just in time, through the funnel', async () => {
    const jar = new Jar();
    const back = await toCallback(jar, 'cas', 'dwho');
    const res = await go(jar, back);
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/');
    const who = await me(w, jar);
    assert.equal(who.status, 200);
    assert.equal(who.user.username, 'dwho');
    assert.equal(who.user.email, 'dwho@badwolf.org');
    const access = await api(w, 'GET', `/api/admin/users/${who.user.id}/access`);
    assert.deepEqual(access.body.roles, ['editors']);
    const logins = (await eventsOf(w, 'auth.login')).filter((e) => e.subjectId === who.user.id && e.outcome === 'success');
    assert.equal(logins[0].details.method, 'sso');
    const sso = (await eventsOf(w, 'sso.login')).filter((e) => e.subjectId === who.user.id && e.outcome === 'success');
    assert.equal(sso[0].details.subject, 'dwho');
    assert.equal(sso[0].details.providerMfa, false);
    // The same callback again: the flow is spent (and the server would refuse the ticket anyway).
    await refused(new Jar(), back, /state_replayed/);
  });

  it('refuses a ticket without a live flow: no state, another browser, another flow, a made-up ticket', async () => {
    const jar = new Jar();
    const back = await toCallback(jar, 'cas', 'rtyler');
    const ticket = new URL(back).searchParams.get('ticket')!;
    await refused(new Jar(), `${callbackOf(w, 'cas')}?ticket=${ticket}`, /state_missing/);
    await refused(new Jar(), back, /browser_mismatch/);
    // A fresh flow of this browser with the other flow's ticket: the service address differs, the server refuses.
    const other = await go(jar, `${w.base}/api/auth/sso/cas/start`);
    const state = new URL(new URL(other.headers.get('location')!).searchParams.get('service')!).searchParams.get('state')!;
    await refused(jar, `${callbackOf(w, 'cas')}?state=${state}&ticket=${ticket}`, /SSO_FAILED: cas: INVALID/);
    const again = await go(jar, `${w.base}/api/auth/sso/cas/start`);
    const s2 = new URL(new URL(again.headers.get('location')!).searchParams.get('service')!).searchParams.get('state')!;
    await refused(jar, `${callbackOf(w, 'cas')}?state=${s2}&ticket=ST-made-up-0000`, /SSO_FAILED: cas: INVALID/);
    const s3 = new URL(new URL((await go(jar, `${w.base}/api/auth/sso/cas/start`)).headers.get('location')!).searchParams.get('service')!).searchParams.get(
      'state',
    )!;
    await refused(jar, `${callbackOf(w, 'cas')}?state=${s3}&ticket=${encodeURIComponent('<x/>')}`, /not a service ticket/);
  });

  it('a CAS server that is down answers SSO_PROVIDER_UNAVAILABLE on the sign-in page, fast', async () => {
    assert.equal(
      (await api(w, 'POST', '/api/admin/sso/providers', { slug: 'down', type: 'cas', displayName: 'Down', cas: { serverUrl: 'http://127.0.0.1:9/cas' } }))
        .status,
      201,
    );
    const jar = new Jar();
    const start = await go(jar, `${w.base}/api/auth/sso/down/start`);
    const state = new URL(new URL(start.headers.get('location')!).searchParams.get('service')!).searchParams.get('state')!;
    const t0 = Date.now();
    await refused(jar, `${callbackOf(w, 'down')}?state=${state}&ticket=ST-1-abc`, /SSO_PROVIDER_UNAVAILABLE/, 'SSO_PROVIDER_UNAVAILABLE');
    assert.ok(Date.now() - t0 < 5000);
  });

  it('refuses bad CAS settings with 400: plain http off loopback, a query, no server [ASVS V1.2.2, V1.3.6, V12.3.1, V12.3.3]', async () => {
    for (const cas of [{ serverUrl: 'http://cas.example.org/cas' }, { serverUrl: 'https://cas.example.org/cas?x=1' }, {}]) {
      const r = await api(w, 'POST', '/api/admin/sso/providers', { slug: 'bad', type: 'cas', displayName: 'Bad', cas });
      assert.equal(r.status, 400, JSON.stringify(cas));
      assert.equal(r.body.error.code, 'VALIDATION_FAILED');
    }
  });
});

// A CAS server that misbehaves (a test double: the real one would not): a huge, endless or dripping answer, an
// answer that is not XML, a `cas:user` put among the attributes. Each is refused on the sign-in page, in bounded
// time and memory, never a 5xx.
describe('CAS: a misbehaving server', () => {
  let w: SsoWorld;
  let server: Server;
  let mode: 'huge' | 'drip' | 'empty' | 'html' | 'nested-user' = 'huge';
  const sockets = new Set<Socket>();

  before(async () => {
    w = await startPalisade();
    server = createServer((req, res) => {
      if (!req.url?.startsWith('/cas/p3/serviceValidate')) return void res.writeHead(404).end();
      if (mode === 'huge') {
        // 16 MiB, then the connection is held open: a reader that waits for the end holds it all until the timeout.
        res.writeHead(200, { 'content-type': 'application/xml' });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        for (let i = 0; i < 256; i++) res.write(chunk);
        return;
      }
      if (mode === 'drip') {
        res.writeHead(200, { 'content-type': 'application/xml' });
        const t = setInterval(() => res.write('<'), 100);
        res.on('close', () => clearInterval(t));
        return;
      }
      if (mode === 'empty') return void res.writeHead(200, { 'content-type': 'application/xml' }).end('');
      if (mode === 'html') return void res.writeHead(404, { 'content-type': 'text/html' }).end('<html><body>Not found</body></html><p>');
      res
        .writeHead(200, { 'content-type': 'application/xml' })
        .end(
          `<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas"><cas:authenticationSuccess><cas:attributes><cas:user>admin</cas:user></cas:attributes><cas:user>mallory</cas:user></cas:authenticationSuccess></cas:serviceResponse>`,
        );
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    const port = await freePort();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const r = await api(w, 'POST', '/api/admin/sso/providers', {
      slug: 'odd',
      type: 'cas',
      displayName: 'Odd CAS',
      cas: { serverUrl: `http://127.0.0.1:${port}/cas`, timeoutMs: 3000 },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await w?.close();
  });

  async function callback(jar: Jar): Promise<{ location: string | null; status: number; ms: number }> {
    const start = await go(jar, `${w.base}/api/auth/sso/odd/start`);
    const state = new URL(new URL(start.headers.get('location')!).searchParams.get('service')!).searchParams.get('state')!;
    const t0 = Date.now();
    const res = await go(jar, `${callbackOf(w, 'odd')}?state=${state}&ticket=ST-1-abc`);
    return { location: res.headers.get('location'), status: res.status, ms: Date.now() - t0 };
  }
  const lastReason = async () => (await eventsOf(w, 'sso.login')).find((e) => e.outcome === 'failure')?.details.reason as string;

  it('an answer larger than the limit is refused as soon as the limit is passed, not read to the end', async () => {
    mode = 'huge';
    const r = await callback(new Jar());
    assert.equal(r.status, 302);
    assert.equal(r.location, '/sign-in#error=SSO_FAILED');
    assert.match(await lastReason(), /too large/);
    assert.ok(r.ms < 2500, `${r.ms} ms`);
  });

  it('an answer that drips is cut at the timeout (SSO_PROVIDER_UNAVAILABLE)', async () => {
    mode = 'drip';
    const r = await callback(new Jar());
    assert.equal(r.location, '/sign-in#error=SSO_PROVIDER_UNAVAILABLE');
    assert.ok(r.ms < 5000, `${r.ms} ms`);
  });

  it('an empty or HTML answer is SSO_FAILED, never a 5xx', async () => {
    for (const m of ['empty', 'html'] as const) {
      mode = m;
      const r = await callback(new Jar());
      assert.equal(r.status, 302, m);
      assert.equal(r.location, '/sign-in#error=SSO_FAILED', m);
    }
  });

  it('the user is the cas:user of the success element, never one among the attributes', async () => {
    mode = 'nested-user';
    const jar = new Jar();
    const r = await callback(jar);
    assert.equal(r.location, '/');
    assert.equal((await me(w, jar)).user.username, 'mallory');
  });
});
