// The SAML tests' world: one Palisade and one real SimpleSAMLphp IdP per test file, a hand-driven browser through
// the IdP's login form, and crafted answers signed with keys the test holds (the IdP's own, or another).
import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';
import { DOMParser, XMLSerializer } from '@xmldom/xmldom';
import { SignedXml } from 'xml-crypto';
import { go, type Jar } from './browser.js';
import { api, type SsoWorld } from './world.js';
import type { Idp } from '../../helpers/simplesamlphp.js';

const ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';

export const acsOf = (w: SsoWorld, slug: string) => `${w.base}/api/auth/sso/${slug}/acs`;
export const spEntityOf = (w: SsoWorld, slug: string) => `${w.base}/api/auth/sso/${slug}/saml/metadata`;

export async function addSamlProvider(w: SsoWorld, slug: string, idp: Idp, extra: Record<string, unknown> = {}) {
  const { saml, ...rest } = extra as { saml?: object };
  const r = await api(w, 'POST', '/api/admin/sso/providers', {
    slug,
    type: 'saml',
    displayName: `SAML ${slug}`,
    ...rest,
    saml: { idpEntityId: idp.entityId, ssoUrl: idp.ssoUrl, idpCertificates: [idp.certificate], groupsAttribute: 'groups', ...saml },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.provider;
}

const htmlText = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#0?39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x2F;/g, '/')
    .replace(/&amp;/g, '&');

/** The first form of a page: its action and its inputs (a test's scrape of the IdP's HTML, nothing more). */
export function formOf(html: string, at: string): { action: string; fields: Record<string, string> } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  assert.ok(action !== undefined, `a form at ${at}: ${html.slice(0, 400)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input([^>]*)>/g)) {
    const name = /name="([^"]+)"/.exec(m[1]!)?.[1];
    const value = /value="([^"]*)"/.exec(m[1]!)?.[1];
    if (name && value !== undefined) fields[name] = htmlText(value);
  }
  return { action: new URL(htmlText(action), at).href, fields };
}

export interface SamlAnswer {
  acs: string;
  SAMLResponse: string;
  RelayState: string;
  /** The AuthnRequest's ID (what InResponseTo must name). */
  requestId: string;
}

/** The AuthnRequest's ID inside an HTTP-Redirect binding's address. */
export function requestIdOf(location: string): string {
  const req = new URL(location).searchParams.get('SAMLRequest')!;
  const xml = inflateRawSync(Buffer.from(req, 'base64')).toString('utf8');
  return new DOMParser().parseFromString(xml, 'text/xml').documentElement!.getAttribute('ID')!;
}

/** Starts at Palisade, signs in at the IdP, answers what the IdP's page would post to the ACS (not yet posted). */
export async function toAcs(w: SsoWorld, jar: Jar, slug: string, user: { uid: string; password: string }, ret?: string): Promise<SamlAnswer> {
  const start = await go(jar, `${w.base}/api/auth/sso/${slug}/start${ret ? `?return=${encodeURIComponent(ret)}` : ''}`);
  assert.equal(start.status, 302, await start.text());
  let next = start.headers.get('location')!;
  const requestId = requestIdOf(next);
  let init: RequestInit = {};
  for (let i = 0; i < 10; i++) {
    const res = await go(jar, next, init);
    init = {};
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      next = new URL(loc, next).href;
      continue;
    }
    const html = await res.text();
    assert.equal(res.status, 200, `unexpected ${res.status} at ${next}: ${html.slice(0, 500)}`);
    assert.ok(
      !html.includes('Unhandled exception'),
      `the IdP failed: ${html
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 900)}`,
    );
    const form = formOf(html, next);
    if (form.fields.SAMLResponse) return { acs: form.action, SAMLResponse: form.fields.SAMLResponse, RelayState: form.fields.RelayState ?? '', requestId };
    const body = new URLSearchParams({ ...form.fields, username: user.uid, password: user.password });
    init = { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } };
    next = form.action;
  }
  throw new Error('the IdP did not answer');
}

/** Posts an answer to the ACS as the IdP's page would; answers where Palisade sends the browser. */
export async function postAcs(jar: Jar, acs: string, fields: Record<string, string>): Promise<{ status: number; location: string | null }> {
  const res = await go(jar, acs, {
    method: 'POST',
    body: new URLSearchParams(fields),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
  return { status: res.status, location: res.headers.get('location') };
}

export const decode = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
export const encode = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');

export interface Craft {
  /** Re-sign the assertion with this key and certificate (null: leave it unsigned). */
  sign: { key: string; cert: string } | null;
  inResponseTo?: string;
  audience?: string;
  notOnOrAfter?: string;
  assertionId?: string;
  nameId?: string;
  /** Changes the response before the assertion is signed (what the IdP itself would have said). */
  beforeSigning?: (doc: Document) => void;
  /** Also sign the Response (after the assertion, when that is signed) with this key and certificate. */
  signResponse?: { key: string; cert: string };
  /** Changes the assertion after it is signed (a wrapping or an altered value). */
  afterSigning?: (doc: Document) => void;
  /** The signature and digest algorithm URIs (RSA-SHA256 and SHA-256 when not given). */
  algorithms?: { signature: string; digest: string };
}

/**
 * A response built from a real one of the IdP: every signature removed, the named parts changed, the assertion
 * signed again (enveloped, exclusive c14n, RSA-SHA256) with the given key.
 */
export function craft(realB64: string, c: Craft): string {
  const doc = new DOMParser().parseFromString(decode(realB64), 'text/xml') as unknown as Document;
  for (const s of [...doc.getElementsByTagNameNS(DSIG_NS, 'Signature')]) s.parentNode!.removeChild(s);
  const a = doc.getElementsByTagNameNS(ASSERTION_NS, 'Assertion')[0]!;
  if (c.assertionId) a.setAttribute('ID', c.assertionId);
  if (c.inResponseTo) {
    doc.documentElement.setAttribute('InResponseTo', c.inResponseTo);
    for (const s of [...a.getElementsByTagNameNS(ASSERTION_NS, 'SubjectConfirmationData')]) s.setAttribute('InResponseTo', c.inResponseTo);
  }
  if (c.audience) for (const x of [...a.getElementsByTagNameNS(ASSERTION_NS, 'Audience')]) x.textContent = c.audience;
  if (c.notOnOrAfter) {
    for (const x of [...a.getElementsByTagNameNS(ASSERTION_NS, 'Conditions')]) x.setAttribute('NotOnOrAfter', c.notOnOrAfter);
    for (const x of [...a.getElementsByTagNameNS(ASSERTION_NS, 'SubjectConfirmationData')]) x.setAttribute('NotOnOrAfter', c.notOnOrAfter);
  }
  if (c.nameId) a.getElementsByTagNameNS(ASSERTION_NS, 'NameID')[0]!.textContent = c.nameId;
  c.beforeSigning?.(doc);
  let xml = new XMLSerializer().serializeToString(doc as never);
  const signed = (input: string, key: { key: string; cert: string }, element: string, issuer: string) => {
    const sig = new SignedXml({
      privateKey: key.key,
      publicCert: key.cert,
      signatureAlgorithm: c.algorithms?.signature ?? 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    });
    sig.addReference({
      xpath: element,
      digestAlgorithm: c.algorithms?.digest ?? 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    });
    sig.computeSignature(input, { location: { reference: issuer, action: 'after' } });
    return sig.getSignedXml();
  };
  if (c.sign) xml = signed(xml, c.sign, "//*[local-name(.)='Assertion']", "//*[local-name(.)='Assertion']/*[local-name(.)='Issuer']");
  if (c.signResponse) xml = signed(xml, c.signResponse, "/*[local-name(.)='Response']", "/*[local-name(.)='Response']/*[local-name(.)='Issuer']");
  if (c.afterSigning) {
    const d2 = new DOMParser().parseFromString(xml, 'text/xml') as unknown as Document;
    c.afterSigning(d2);
    xml = new XMLSerializer().serializeToString(d2 as never);
  }
  return encode(xml);
}

export const sloOf = (w: SsoWorld, slug: string) => `${w.base}/api/auth/sso/${slug}/saml/slo`;

/** The SAML message inside an HTTP-Redirect binding's address (`SAMLRequest` or `SAMLResponse`), inflated. */
export function redirectMessage(location: string, name: 'SAMLRequest' | 'SAMLResponse'): Document {
  const m = new URL(location).searchParams.get(name);
  assert.ok(m, `${name} in ${location}`);
  return new DOMParser().parseFromString(inflateRawSync(Buffer.from(m, 'base64')).toString('utf8'), 'text/xml') as unknown as Document;
}

export interface LogoutCraft {
  issuer: string;
  destination?: string | null;
  id?: string;
  issueInstant?: string;
  nameId: string;
  sessionIndex?: string | null;
  /** Signs the root (enveloped, exclusive c14n, RSA-SHA256) with this key and certificate; null: unsigned. */
  sign: { key: string; cert: string } | null;
  /** Changes the signed document afterwards (a wrapping). */
  afterSigning?: (doc: Document) => void;
  /** Text put before the root element (a DTD). */
  prolog?: string;
}

/** A LogoutRequest as an IdP would post it by the HTTP-POST binding (base64), signed with the given key. */
export function craftLogoutRequest(c: LogoutCraft): string {
  const id = c.id ?? `_lr${Math.random().toString(16).slice(2)}${Date.now()}`;
  const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  let xml =
    `<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="${ASSERTION_NS}" ID="${esc(id)}" Version="2.0" ` +
    `IssueInstant="${c.issueInstant ?? new Date().toISOString()}"${c.destination ? ` Destination="${esc(c.destination)}"` : ''}>` +
    `<saml:Issuer>${esc(c.issuer)}</saml:Issuer>` +
    `<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${esc(c.nameId)}</saml:NameID>` +
    (c.sessionIndex ? `<samlp:SessionIndex>${esc(c.sessionIndex)}</samlp:SessionIndex>` : '') +
    '</samlp:LogoutRequest>';
  if (c.sign) {
    const sig = new SignedXml({
      privateKey: c.sign.key,
      publicCert: c.sign.cert,
      signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
    });
    sig.addReference({
      xpath: "/*[local-name(.)='LogoutRequest']",
      digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
      transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
    });
    sig.computeSignature(xml, { location: { reference: "/*[local-name(.)='LogoutRequest']/*[local-name(.)='Issuer']", action: 'after' } });
    xml = sig.getSignedXml();
  }
  if (c.afterSigning) {
    const doc = new DOMParser().parseFromString(xml, 'text/xml') as unknown as Document;
    c.afterSigning(doc);
    xml = new XMLSerializer().serializeToString(doc as never);
  }
  return encode(`${c.prolog ?? ''}${xml}`);
}

/**
 * A browser through the IdP's logout: follows redirects and posts the auto-submitting SAML forms (to Palisade's SLO
 * and back to the IdP), until an address starting with `stopAt`; answers each SAML post and each redirect seen.
 */
export async function throughLogout(
  jar: Jar,
  url: string,
  stopAt: string,
): Promise<{ posts: { to: string; fields: Record<string, string>; status: number; location: string | null; setCookie: string[] }[]; redirects: string[] }> {
  const posts: { to: string; fields: Record<string, string>; status: number; location: string | null; setCookie: string[] }[] = [];
  const redirects: string[] = [];
  let next = url;
  for (let i = 0; i < 15; i++) {
    if (next.startsWith(stopAt)) return { posts, redirects };
    const res = await go(jar, next);
    const loc = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && loc) {
      next = new URL(loc, next).href;
      redirects.push(next);
      continue;
    }
    const html = await res.text();
    assert.equal(
      res.status,
      200,
      `unexpected ${res.status} at ${next}: ${html
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 900)}`,
    );
    const form = formOf(html, next);
    assert.ok(form.fields.SAMLRequest || form.fields.SAMLResponse, `a SAML form at ${next}: ${html.slice(0, 400)}`);
    const posted = await go(jar, form.action, {
      method: 'POST',
      body: new URLSearchParams(form.fields),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    const location = posted.headers.get('location');
    posts.push({ to: form.action, fields: form.fields, status: posted.status, location, setCookie: posted.headers.getSetCookie() });
    assert.ok(
      location && posted.status >= 300 && posted.status < 400,
      `a redirect from ${form.action}: ${posted.status} ${(await posted.text()).slice(0, 300)}`,
    );
    next = new URL(location, form.action).href;
    redirects.push(next);
  }
  throw new Error('the logout did not end');
}
