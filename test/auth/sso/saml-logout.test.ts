import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { login } from '../../helpers/app.js';
import { go, Jar } from './browser.js';
import { api, eventsOf, me, SESSION_COOKIE, startPalisade, type SsoWorld } from './world.js';
import {
  acsOf,
  addSamlProvider,
  craftLogoutRequest,
  decode,
  encode,
  formOf,
  postAcs,
  redirectMessage,
  sloOf,
  spEntityOf,
  throughLogout,
  toAcs,
  type LogoutCraft,
} from './saml-world.js';
import { keyPair, SAML_USERS, simpleSamlInstalled, startSimpleSaml, type Idp } from '../../helpers/simplesamlphp.js';

// AUTH-13, SAML 2.0 single logout (D341–D346) against a real IdP (SimpleSAMLphp under php -S): a logout at the IdP
// posts a signed LogoutRequest through the browser to our SLO service, which ends exactly the session that sign-in
// opened and answers with a LogoutResponse the IdP accepts; a sign-out at Palisade answers the IdP's SLO address with
// our LogoutRequest (signed, checked by the IdP), and the IdP's LogoutResponse lands on the sign-in page. Then the
// attacks on the SLO service, each refused with SSO_LOGOUT_INVALID and no session ended, beside a crafted request
// signed by the IdP's own key that gets through (so each refusal is the one defect's).

const [ada, ben] = SAML_USERS as [(typeof SAML_USERS)[0], (typeof SAML_USERS)[0]];
const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';

describe('SAML single logout against SimpleSAMLphp', { skip: !simpleSamlInstalled() && 'simplesamlphp is not installed' }, () => {
  let w: SsoWorld;
  let idp: Idp;
  const keys = mkdtempSync(join(tmpdir(), 'palisade-slo-'));
  const sp = keyPair(keys, 'sp');
  const evil = keyPair(keys, 'evil');

  before(async () => {
    w = await startPalisade();
    idp = await startSimpleSaml([
      { entityId: spEntityOf(w, 'slo'), acs: acsOf(w, 'slo'), slo: sloOf(w, 'slo') },
      // The IdP requires this one's logout messages signed by our key: our signatures are checked by a real IdP.
      { entityId: spEntityOf(w, 'signed'), acs: acsOf(w, 'signed'), slo: sloOf(w, 'signed'), logoutSignedBy: sp.cert },
      { entityId: spEntityOf(w, 'plain'), acs: acsOf(w, 'plain') },
    ]);
    await addSamlProvider(w, 'slo', idp, { saml: { sloUrl: idp.sloUrl } });
    await addSamlProvider(w, 'signed', idp, { saml: { sloUrl: idp.sloUrl, spCertificate: sp.cert, spPrivateKey: sp.key } });
    await addSamlProvider(w, 'plain', idp);
  });
  after(async () => {
    await w?.close();
    await idp?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  /** Signs in through the IdP in this jar: the user and the session row it opened (the test clock stands still). */
  async function signIn(jar: Jar, slug: string, user: { uid: string; password: string }) {
    const ids = async () => (await w.t.s.db.selectFrom('sessions').select('id').execute()).map((r) => r.id);
    const before = new Set(await ids());
    const answer = await toAcs(w, jar, slug, user);
    const landed = await postAcs(jar, answer.acs, { SAMLResponse: answer.SAMLResponse, RelayState: answer.RelayState });
    assert.equal(landed.status, 302);
    const who = await me(w, jar);
    assert.equal(who.status, 200);
    const opened = (await ids()).filter((id) => !before.has(id));
    assert.equal(opened.length, 1);
    const row = await w.t.s.db.selectFrom('sessions').selectAll().where('id', '=', opened[0]!).executeTakeFirstOrThrow();
    assert.equal(row.sso_provider, slug);
    return { user: who.user as { id: string; username: string }, row };
  }

  const idpKey = () => ({ key: idp.privateKey, cert: idp.certificate });
  const postForm = (slug: string, fields: Record<string, string>) =>
    w.t.app.inject({
      method: 'POST',
      url: `/api/auth/sso/${slug}/saml/slo`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });

  const signOut = (jar: Jar) =>
    go(jar, `${w.base}/api/auth/logout`, {
      method: 'POST',
      headers: { 'x-xsrf-token': decodeURIComponent(jar.get(w.base, '__Host-palisade_xsrf') ?? '') },
    });

  it('advertises the SLO service (HTTP-POST) in the metadata only for a provider with sloUrl', async () => {
    const xml = await (await fetch(`${w.base}/api/auth/sso/slo/saml/metadata`)).text();
    assert.match(xml, new RegExp(`<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${sloOf(w, 'slo')}"`));
    const plain = await (await fetch(`${w.base}/api/auth/sso/plain/saml/metadata`)).text();
    assert.ok(!plain.includes('SingleLogoutService'));
    // No SLO service without sloUrl: nothing to answer a LogoutResponse to.
    const r = await postForm('plain', { SAMLRequest: craftLogoutRequest({ issuer: idp.entityId, nameId: 'ada', sign: idpKey() }) });
    assert.equal(r.statusCode, 404);
  });

  it('IdP-initiated: a logout at the IdP ends the session of that sign-in only, and the IdP accepts our LogoutResponse [ASVS V7.6.1]', async () => {
    const adaHere = new Jar();
    const { user, row } = await signIn(adaHere, 'slo', ada);
    const adaThere = new Jar();
    await signIn(adaThere, 'slo', ada);
    const benJar = new Jar();
    await signIn(benJar, 'slo', ben);
    assert.equal(row.sso_subject, 'ada');
    assert.ok(row.sso_sid, 'the SessionIndex is kept');
    const before = (await eventsOf(w, 'sso.logout')).length;

    const returnTo = `${idp.base}/logged-out`;
    const { posts, redirects } = await throughLogout(adaHere, `${idp.sloUrl}?ReturnTo=${encodeURIComponent(returnTo)}`, returnTo);

    const ours = posts.filter((p) => p.to === sloOf(w, 'slo'));
    assert.equal(ours.length, 1, 'the IdP posted one LogoutRequest to our SLO service');
    const request = new DOMParser().parseFromString(decode(ours[0]!.fields.SAMLRequest!), 'text/xml');
    assert.equal(request.documentElement!.localName, 'LogoutRequest');
    assert.equal(request.getElementsByTagNameNS(DSIG_NS, 'Signature').length, 1, 'signed by the IdP (sign.logout)');
    assert.equal(request.getElementsByTagNameNS(PROTOCOL_NS, 'SessionIndex')[0]!.textContent, row.sso_sid);
    // Our answer: a LogoutResponse to the IdP's SLO. This browser's cookies are left alone (D348): the sessions end on the
    // server, and a page that replays a captured request to its visitors must not sign them out.
    assert.equal(ours[0]!.status, 302);
    assert.ok(ours[0]!.location!.startsWith(`${idp.sloUrl}?SAMLResponse=`), ours[0]!.location!);
    const response = redirectMessage(ours[0]!.location!, 'SAMLResponse');
    assert.equal(response.documentElement!.localName, 'LogoutResponse');
    assert.equal(response.documentElement!.getAttribute('InResponseTo'), request.documentElement!.getAttribute('ID'));
    assert.match(new XMLSerializer().serializeToString(response), /urn:oasis:names:tc:SAML:2.0:status:Success/);
    assert.ok(!ours[0]!.setCookie.some((c) => c.startsWith(`${SESSION_COOKIE}=`)), `no session cookie touched: ${ours[0]!.setCookie}`);
    // The IdP took the LogoutResponse and finished at ReturnTo (an unaccepted one ends on an error page).
    assert.equal(redirects.at(-1), returnTo);

    assert.equal((await me(w, adaHere)).status, 401, "this browser's session ended");
    assert.equal((await me(w, adaThere)).status, 200, "ada's session in another browser (another IdP session) is untouched");
    assert.equal((await me(w, benJar)).status, 200, "ben's session is untouched");
    const events = (await eventsOf(w, 'sso.logout')).slice(0, (await eventsOf(w, 'sso.logout')).length - before);
    assert.equal(events.length, 1);
    assert.equal(events[0].outcome, 'success');
    assert.equal(events[0].subjectId, user.id);
    assert.deepEqual(events[0].details, { provider: 'slo', ended: 1, by: 'session' });
    const ended = await w.t.s.db.selectFrom('sessions').select(['revoked_reason']).where('id', '=', row.id).executeTakeFirstOrThrow();
    assert.equal(ended.revoked_reason, 'sso_logout');
  });

  it('SP-initiated: signing out answers the IdP SLO with our signed LogoutRequest; the IdP answers to /sign-in and its session is gone [ASVS V7.6.1]', async () => {
    const jar = new Jar();
    const { user, row } = await signIn(jar, 'signed', ben);
    const out = await signOut(jar);
    assert.equal(out.status, 200);
    assert.equal(out.headers.get('cache-control'), 'no-store');
    const { redirect } = (await out.json()) as { redirect: string };
    assert.ok(redirect.startsWith(`${idp.sloUrl}?SAMLRequest=`), redirect);
    const q = new URL(redirect).searchParams;
    assert.ok(q.get('Signature') && q.get('SigAlg'), 'signed (HTTP-Redirect binding signature), as the SP key is set');
    const lr = redirectMessage(redirect, 'SAMLRequest').documentElement!;
    assert.equal(lr.localName, 'LogoutRequest');
    assert.equal(lr.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'NameID')[0]!.textContent, 'ben');
    assert.equal(lr.getElementsByTagNameNS(PROTOCOL_NS, 'SessionIndex')[0]!.textContent, row.sso_sid);
    // The Palisade session ended first: the redirect is a courtesy.
    assert.equal((await me(w, jar)).status, 401);
    const logouts = (await eventsOf(w, 'auth.logout')).filter((e) => e.subjectId === user.id);
    assert.equal(logouts.length, 1);

    // The IdP checks our signature (validate.logout with our certificate), ends its session, posts its answer back.
    const { posts, redirects } = await throughLogout(jar, redirect, `${w.base}/sign-in`);
    const answer = posts.find((p) => p.to === sloOf(w, 'signed'));
    assert.ok(answer?.fields.SAMLResponse, 'the IdP answered with a LogoutResponse at our SLO');
    assert.match(decode(answer.fields.SAMLResponse), /urn:oasis:names:tc:SAML:2.0:status:Success/);
    assert.equal(answer.location, '/sign-in');
    assert.equal(redirects.at(-1), `${w.base}/sign-in`);

    // The IdP session is gone: a new sign-in asks for the password again.
    const start = await go(jar, `${w.base}/api/auth/sso/signed/start`);
    let next = start.headers.get('location')!;
    let html = '';
    for (let i = 0; i < 5; i++) {
      const res = await go(jar, next);
      const loc = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && loc) {
        next = new URL(loc, next).href;
        continue;
      }
      html = await res.text();
      break;
    }
    const form = formOf(html, next);
    assert.equal(form.fields.SAMLResponse, undefined, 'no answer without signing in again');
    assert.match(html, /name="password"/);
  });

  it('a sign-out stays 204 for a session of a SAML provider without sloUrl, and for a password session', async () => {
    const jar = new Jar();
    await signIn(jar, 'plain', ada);
    const out = await signOut(jar);
    assert.equal(out.status, 204);
    assert.equal((await me(w, jar)).status, 401);
    const other = (await login(w.t)).token;
    const r = await w.t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${other}` } });
    assert.equal(r.statusCode, 204);
  });

  it('a LogoutResponse at the SLO changes nothing and leads to /sign-in, whatever it says', async () => {
    const jar = new Jar();
    await signIn(jar, 'slo', ada);
    const before = (await eventsOf(w, 'sso.logout')).length;
    const r = await go(jar, sloOf(w, 'slo'), {
      method: 'POST',
      body: new URLSearchParams({ SAMLResponse: encode('<not-even-a-response/>'), RelayState: 'x' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/sign-in');
    assert.ok(!r.headers.getSetCookie().some((c) => c.startsWith(SESSION_COOKIE)), 'no cookie touched: a forged post cannot sign anyone out');
    assert.equal((await me(w, jar)).status, 200);
    assert.equal((await eventsOf(w, 'sso.logout')).length, before);
  });

  // The attacks: each names a live session (its NameID and SessionIndex) and must leave it live.
  describe('attacks on the SLO service', () => {
    let victim: Jar;
    let target: { subject: string; sid: string };

    before(async () => {
      victim = new Jar();
      const { row } = await signIn(victim, 'slo', ada);
      target = { subject: row.sso_subject!, sid: row.sso_sid! };
    });

    const good = (o: Partial<LogoutCraft> = {}): LogoutCraft => ({
      issuer: idp.entityId,
      destination: sloOf(w, 'slo'),
      nameId: target.subject,
      sessionIndex: target.sid,
      sign: idpKey(),
      ...o,
    });

    async function refused(SAMLRequest: string, reason: RegExp) {
      const before = (await eventsOf(w, 'sso.logout')).length;
      const r = await postForm('slo', { SAMLRequest });
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().error.code, 'SSO_LOGOUT_INVALID');
      assert.equal(r.headers.location, undefined, 'no redirect');
      assert.equal((await me(w, victim)).status, 200, 'the session is still live');
      const events = (await eventsOf(w, 'sso.logout')).slice(0, (await eventsOf(w, 'sso.logout')).length - before);
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.equal(events[0].outcome, 'failure');
      assert.match(String(events[0].details.reason), reason);
    }

    it('an unsigned LogoutRequest (no Signature at all)', () => refused(craftLogoutRequest(good({ sign: null })), /exactly one Signature/));
    it('a Signature that node-saml would not find on the root: moved into an Extensions element', () =>
      refused(
        craftLogoutRequest(
          good({
            afterSigning: (d) => {
              const sig = d.getElementsByTagNameNS(DSIG_NS, 'Signature')[0]!;
              const ext = d.createElementNS(PROTOCOL_NS, 'samlp:Extensions');
              d.documentElement!.replaceChild(ext, sig);
              ext.appendChild(sig);
            },
          }),
        ),
        /exactly one Signature/,
      ));
    it('nested Signature elements (their search is costly in node-saml) are refused by shape before it runs', async () => {
      const ext = (d: Document) => d.documentElement!.appendChild(d.createElementNS(PROTOCOL_NS, 'samlp:Extensions')) as Element;
      const nest = (n: number, name: string, ns: string) => (d: Document) => {
        let at = ext(d);
        for (let i = 0; i < n; i++) at = at.appendChild(d.createElementNS(ns, name)) as Element;
      };
      const flat = (n: number) => (d: Document) => {
        const at = ext(d);
        for (let i = 0; i < n; i++) at.appendChild(d.createElementNS(DSIG_NS, 'ds:Signature'));
      };
      await refused(craftLogoutRequest(good({ sign: null, afterSigning: flat(150) })), /too many elements/);
      await refused(craftLogoutRequest(good({ sign: null, afterSigning: nest(20, 'ds:Signature', DSIG_NS) })), /nested too deep/);
      await refused(craftLogoutRequest(good({ afterSigning: nest(2, 'ds:Signature', DSIG_NS) })), /exactly one Signature/);
      // A thousand nested ones do not even fit in the body's bound (16 KiB).
      const huge = await postForm('slo', { SAMLRequest: craftLogoutRequest(good({ sign: null, afterSigning: nest(1000, 'ds:Signature', DSIG_NS) })) });
      assert.equal(huge.statusCode, 400);
      assert.equal((await me(w, victim)).status, 200);
    });
    it('no Destination: a signed message by the HTTP-POST binding names it', () =>
      refused(craftLogoutRequest(good({ destination: undefined })), /another Destination, or names none/));
    it('a NameID qualified for another service provider', () =>
      refused(
        craftLogoutRequest(
          good({
            afterSigning: (d) => {
              d.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:assertion', 'NameID')[0]!.setAttribute('SPNameQualifier', 'https://other-sp.example');
            },
          }),
        ),
        /qualified for another service provider/,
      ));
    it('a LogoutRequest signed by another key', () => refused(craftLogoutRequest(good({ sign: evil })), /saml: Invalid signature/));
    it('a LogoutRequest altered after signing (another SessionIndex)', () =>
      refused(
        craftLogoutRequest(
          good({
            sessionIndex: 'someone-else',
            afterSigning: (d) => {
              d.getElementsByTagNameNS(PROTOCOL_NS, 'SessionIndex')[0]!.textContent = target.sid;
            },
          }),
        ),
        /saml: Invalid signature/,
      ));
    it('the wrong issuer, though signed by the IdP key', () => refused(craftLogoutRequest(good({ issuer: 'https://evil.example/idp' })), /issuer mismatch/));
    it('another Destination', () => refused(craftLogoutRequest(good({ destination: sloOf(w, 'plain') })), /another Destination/));
    it('two NameIDs: a second one wrapped inside the signature, which the enveloped signature does not cover', () =>
      refused(
        craftLogoutRequest(
          good({
            nameId: 'nobody',
            afterSigning: (d) => {
              const sig = d.getElementsByTagNameNS(DSIG_NS, 'Signature')[0]!;
              const obj = d.createElementNS(DSIG_NS, 'ds:Object');
              const n = d.createElementNS('urn:oasis:names:tc:SAML:2.0:assertion', 'saml:NameID');
              n.textContent = target.subject;
              obj.appendChild(n);
              sig.appendChild(obj);
            },
          }),
        ),
        /exactly one NameID/,
      ));
    it('two SessionIndex elements', () =>
      refused(
        craftLogoutRequest(
          good({
            afterSigning: (d) => {
              const x = d.createElementNS(PROTOCOL_NS, 'samlp:SessionIndex');
              x.textContent = 'other';
              d.documentElement!.appendChild(x);
            },
          }),
        ),
        /more than one SessionIndex/,
      ));
    it('a replayed request ID', async () => {
      // A legitimate request for a subject with no session: accepted once, refused the second time.
      const once = craftLogoutRequest(good({ nameId: 'nobody', sessionIndex: null, id: '_replayed-logout-request' }));
      const first = await postForm('slo', { SAMLRequest: once });
      assert.equal(first.statusCode, 302, first.body);
      await refused(once, /logout replayed/);
    });
    it('a stale IssueInstant (ten minutes old)', () =>
      refused(craftLogoutRequest(good({ issueInstant: new Date(Date.now() - 10 * 60_000).toISOString() })), /IssueInstant too old/));
    it('an IssueInstant in the future', () =>
      refused(craftLogoutRequest(good({ issueInstant: new Date(Date.now() + 10 * 60_000).toISOString() })), /IssueInstant in the future/));
    it('a DTD (entities) [ASVS V1.5.1]', () =>
      refused(craftLogoutRequest(good({ prolog: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "ada">]>' })), /not XML, or holds a DTD/));
    it('another message than a LogoutRequest', () =>
      refused(
        encode(`<samlp:AuthnRequest xmlns:samlp="${PROTOCOL_NS}" ID="_x" Version="2.0" IssueInstant="${new Date().toISOString()}"/>`),
        /not a LogoutRequest/,
      ));
    it('text that is not XML, and not base64', async () => {
      await refused(encode('no xml at all'), /not XML/);
      await refused('%%% not base64 %%%', /not base64/);
    });

    it('malformed bodies are 4xx, never 5xx; the HTTP-Redirect binding is not offered', async () => {
      const deep = encode(`<samlp:LogoutRequest xmlns:samlp="${PROTOCOL_NS}">${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</samlp:LogoutRequest>`);
      const cases: [string, string][] = [
        ['empty', ''],
        ['neither field', 'RelayState=x'],
        ['both fields', `SAMLRequest=${encodeURIComponent(encode('<x/>'))}&SAMLResponse=${encodeURIComponent(encode('<x/>'))}`],
        ['an empty SAMLRequest', 'SAMLRequest='],
        ['a field twice', 'SAMLRequest=a&SAMLRequest=b'],
        ['an unknown field', 'SAMLRequest=a&Signature=b'],
        ['too large', `SAMLRequest=${'A'.repeat(70_000)}`],
        ['deeply nested', `SAMLRequest=${encodeURIComponent(deep)}`],
        ['a RelayState too long', `SAMLRequest=a&RelayState=${'r'.repeat(3000)}`],
      ];
      for (const [name, payload] of cases) {
        const r = await w.t.app.inject({
          method: 'POST',
          url: '/api/auth/sso/slo/saml/slo',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          payload,
        });
        assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${name}: ${r.statusCode} ${r.body}`);
      }
      const json = await w.t.app.inject({ method: 'POST', url: '/api/auth/sso/slo/saml/slo', payload: { SAMLRequest: ['x'] } });
      assert.equal(json.statusCode, 400);
      const redirectBinding = await w.t.app.inject({
        method: 'GET',
        url: `/api/auth/sso/slo/saml/slo?SAMLRequest=${encodeURIComponent(craftLogoutRequest(good({ sign: null })))}`,
      });
      // No such route for a GET: refused before anything is read (401 for an unknown non-public address).
      assert.ok(redirectBinding.statusCode === 401 || redirectBinding.statusCode === 404, String(redirectBinding.statusCode));
      assert.equal((await api(w, 'GET', '/api/auth/me', undefined, w.admin)).status, 200);
      assert.equal((await me(w, victim)).status, 200);
    });

    it('a crafted LogoutRequest signed by the IdP key, right in every way, ends the session (the control)', async () => {
      const r = await postForm('slo', { SAMLRequest: craftLogoutRequest(good()), RelayState: 'back-to-idp' });
      assert.equal(r.statusCode, 302, r.body);
      const location = String(r.headers.location);
      assert.ok(location.startsWith(`${idp.sloUrl}?SAMLResponse=`), location);
      assert.equal(new URL(location).searchParams.get('RelayState'), 'back-to-idp');
      assert.equal((await me(w, victim)).status, 401);
    });
  });
});
