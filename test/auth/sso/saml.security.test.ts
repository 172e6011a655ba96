import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DOMParser } from '@xmldom/xmldom';
import { go, Jar } from './browser.js';
import { api, eventsOf, me, SESSION_COOKIE, startPalisade, type SsoWorld } from './world.js';
import { acsOf, addSamlProvider, craft, type Craft, decode, encode, postAcs, requestIdOf, spEntityOf, toAcs, type SamlAnswer } from './saml-world.js';
import { keyPair, SAML_USERS, simpleSamlInstalled, startSimpleSaml, type Idp } from '../../helpers/simplesamlphp.js';

// AUTH-13, SAML: the attacks on an assertion consumer service, each through HTTP and each refused with
// SSO_FAILED on the sign-in page, no session and a failed `sso.login`: an unsigned answer, one signed by another
// key, one altered after signing (a changed NameID, a second assertion wrapped in), the wrong audience, an expired
// one, a replayed one (the same post, and the same assertion ID in a new flow), InResponseTo of another flow, and
// an answer without the flow's browser cookie; a signed assertion whose bearer confirmation does not answer this flow
// at this ACS (D313), the other wrapping shapes, a NameID of another format (D317), and bodies that are no XML (D316).
// A comment inside the NameID and an MFA class inside an attribute value are read for what they are (D315). A
// response crafted the same way but signed by the IdP's own key is accepted, so each refusal is the one defect's.

const [ada, ben] = SAML_USERS as [(typeof SAML_USERS)[0], (typeof SAML_USERS)[0]];
const ASSERTION_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';

describe('SAML assertion consumer service: attacks refused', { skip: !simpleSamlInstalled() && 'simplesamlphp is not installed' }, () => {
  let w: SsoWorld;
  let idp: Idp;
  let template: SamlAnswer;
  const keys = mkdtempSync(join(tmpdir(), 'palisade-evil-'));
  const evil = keyPair(keys, 'evil');
  let idpKey: { key: string; cert: string };

  /** A new flow in this jar: its RelayState and its AuthnRequest's ID, without going to the IdP. */
  async function flow(jar: Jar): Promise<{ RelayState: string; requestId: string }> {
    const res = await go(jar, `${w.base}/api/auth/sso/idp/start`);
    assert.equal(res.status, 302);
    const location = res.headers.get('location')!;
    return { RelayState: new URL(location).searchParams.get('RelayState')!, requestId: requestIdOf(location) };
  }

  async function refused(jar: Jar, fields: Record<string, string>, reason: RegExp) {
    const before = (await eventsOf(w, 'sso.login')).length;
    const r = await postAcs(jar, acsOf(w, 'idp'), fields);
    assert.equal(r.status, 302);
    assert.match(r.location ?? '', /^\/sign-in#error=SSO_FAILED$/);
    assert.equal(jar.get(w.base, SESSION_COOKIE), undefined, 'no session');
    assert.equal((await me(w, jar)).status, 401);
    const events = (await eventsOf(w, 'sso.login')).slice(0, (await eventsOf(w, 'sso.login')).length - before);
    assert.ok(
      events.some((e) => e.outcome === 'failure' && reason.test(String(e.details.reason))),
      `a failed sso.login matching ${reason}: ${JSON.stringify(events.map((e) => e.details.reason))}`,
    );
  }

  before(async () => {
    w = await startPalisade();
    idp = await startSimpleSaml([{ entityId: spEntityOf(w, 'idp'), acs: acsOf(w, 'idp') }]);
    idpKey = { key: idp.privateKey, cert: idp.certificate };
    await addSamlProvider(w, 'idp', idp);
    // A real answer of the IdP, the template every crafted one starts from.
    template = await toAcs(w, new Jar(), 'idp', ben);
  });
  after(async () => {
    await w?.close();
    await idp?.close();
    rmSync(keys, { recursive: true, force: true });
  });

  it('control: the real answer signs in, and a crafted one signed by the IdP key for this flow is accepted [ASVS V6.8.2, V6.8.3]', async () => {
    const jar = new Jar();
    const real = await toAcs(w, jar, 'idp', ada);
    const ok = await postAcs(jar, real.acs, { SAMLResponse: real.SAMLResponse, RelayState: real.RelayState });
    assert.equal(ok.location, '/');
    assert.equal((await me(w, jar)).user.username, 'ada');
    const jar2 = new Jar();
    const f = await flow(jar2);
    const crafted = craft(template.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId, assertionId: '_control-1' });
    const r = await postAcs(jar2, acsOf(w, 'idp'), { SAMLResponse: crafted, RelayState: f.RelayState });
    assert.equal(r.location, '/');
    assert.equal((await me(w, jar2)).user.username, 'ben');
  });

  it('refuses an unsigned answer [ASVS V6.8.2]', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    await refused(jar, { SAMLResponse: craft(template.SAMLResponse, { sign: null, inResponseTo: f.requestId }), RelayState: f.RelayState }, /SSO_FAILED: saml/);
  });

  it('refuses an answer signed by another key [ASVS V6.8.2]', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    await refused(jar, { SAMLResponse: craft(template.SAMLResponse, { sign: evil, inResponseTo: f.requestId }), RelayState: f.RelayState }, /SSO_FAILED: saml/);
  });

  it('refuses an answer signed by the IdP key with RSA-SHA1 or a SHA-1 digest; RSA-SHA512 with SHA-512 signs in (D418) [ASVS V11.4.1, V11.4.3]', async () => {
    const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
    const MORE = 'http://www.w3.org/2001/04/xmldsig-more#';
    for (const algorithms of [
      { signature: `${DSIG}rsa-sha1`, digest: 'http://www.w3.org/2001/04/xmlenc#sha256' },
      { signature: `${MORE}rsa-sha256`, digest: `${DSIG}sha1` },
    ]) {
      const jar = new Jar();
      const f = await flow(jar);
      const weak = craft(template.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId, algorithms });
      await refused(jar, { SAMLResponse: weak, RelayState: f.RelayState }, /not an approved algorithm/);
    }
    const jar = new Jar();
    const f = await flow(jar);
    const strong = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      assertionId: '_sha512',
      algorithms: { signature: `${MORE}rsa-sha512`, digest: 'http://www.w3.org/2001/04/xmlenc#sha512' },
    });
    const r = await postAcs(jar, acsOf(w, 'idp'), { SAMLResponse: strong, RelayState: f.RelayState });
    assert.equal(r.location, '/');
    assert.equal((await me(w, jar)).user.username, 'ben');
  });

  it('refuses an assertion altered after signing (another NameID) [ASVS V6.8.2]', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const altered = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      afterSigning: (doc) => {
        doc.getElementsByTagNameNS(ASSERTION_NS, 'NameID')[0]!.textContent = 'ada';
      },
    });
    await refused(jar, { SAMLResponse: altered, RelayState: f.RelayState }, /SSO_FAILED: saml/);
  });

  it('refuses signature wrapping: a forged second assertion beside the signed one', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const wrapped = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      afterSigning: (doc) => {
        const signed = doc.getElementsByTagNameNS(ASSERTION_NS, 'Assertion')[0]!;
        const forged = signed.cloneNode(true) as Element;
        forged.setAttribute('ID', '_forged');
        const sig = forged.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature')[0];
        sig?.parentNode?.removeChild(sig);
        forged.getElementsByTagNameNS(ASSERTION_NS, 'NameID')[0]!.textContent = 'ada';
        signed.parentNode!.insertBefore(forged, signed);
      },
    });
    await refused(jar, { SAMLResponse: wrapped, RelayState: f.RelayState }, /expected one assertion/);
  });

  it('refuses the wrong audience', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const other = craft(template.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId, audience: 'https://other-sp.example.org/metadata' });
    await refused(jar, { SAMLResponse: other, RelayState: f.RelayState }, /audience/i);
  });

  it('refuses an expired assertion', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    await refused(
      jar,
      { SAMLResponse: craft(template.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId, notOnOrAfter: old }), RelayState: f.RelayState },
      /SSO_FAILED: saml/,
    );
  });

  it('refuses a replayed answer: the same post again, and the same assertion in a new flow [ASVS V6.8.3]', async () => {
    const jar = new Jar();
    const real = await toAcs(w, jar, 'idp', ada);
    const fields = { SAMLResponse: real.SAMLResponse, RelayState: real.RelayState };
    assert.equal((await postAcs(jar, real.acs, fields)).location, '/');
    const thief = new Jar();
    await refused(thief, fields, /browser_mismatch|state_replayed/);
    const again = new Jar();
    const f = await flow(again);
    const id = new DOMParser().parseFromString(decode(real.SAMLResponse), 'text/xml').getElementsByTagNameNS(ASSERTION_NS, 'Assertion')[0]!.getAttribute('ID')!;
    // Re-signed by the IdP's key for the new flow: only the assertion ID is old.
    const replay = craft(real.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId, assertionId: id });
    await refused(again, { SAMLResponse: replay, RelayState: f.RelayState }, /assertion_replayed/);
  });

  it("refuses an answer whose InResponseTo is another flow's request", async () => {
    const victim = new Jar();
    const a = await flow(victim);
    const jar = new Jar();
    const b = await flow(jar);
    const crossed = craft(template.SAMLResponse, { sign: idpKey, inResponseTo: a.requestId });
    await refused(jar, { SAMLResponse: crossed, RelayState: b.RelayState }, /SSO_FAILED: saml|InResponseTo/);
  });

  it('refuses an answer posted without the flow cookie, without RelayState, or unsolicited [ASVS V7.6.2]', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const good = craft(template.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId });
    await refused(new Jar(), { SAMLResponse: good, RelayState: f.RelayState }, /browser_mismatch/);
    await refused(jar, { SAMLResponse: good }, /state_missing/);
    await refused(jar, { SAMLResponse: good, RelayState: 'made-up' }, /state_unknown/);
  });

  it('refuses a DTD (entity expansion) and garbage with a 4xx or the sign-in page, never a 5xx [ASVS V1.5.1]', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const bomb = encode(`<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;</r>`);
    await refused(jar, { SAMLResponse: bomb, RelayState: f.RelayState }, /DTD/);
    const empty = await postAcs(jar, acsOf(w, 'idp'), { RelayState: 'x' });
    assert.equal(empty.status, 400);
    const dup = await go(jar, acsOf(w, 'idp'), {
      method: 'POST',
      body: 'SAMLResponse=a&SAMLResponse=b',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(dup.status, 400);
    assert.equal(((await dup.json()) as any).error.code, 'VALIDATION_FAILED');
  });
  /** The assertion of a crafted document (before signing). */
  const assertionOf = (doc: Document) => doc.getElementsByTagNameNS(ASSERTION_NS, 'Assertion')[0]!;
  const confirmationData = (doc: Document) => assertionOf(doc).getElementsByTagNameNS(ASSERTION_NS, 'SubjectConfirmationData')[0]!;

  it('refuses a signed assertion not confirmed for this request at this ACS (bearer SubjectConfirmationData), or a Response for another Destination', async () => {
    const variants: [string, (doc: Document) => void][] = [
      // An unsolicited assertion (IdP-initiated: no InResponseTo) wrapped in a Response naming this flow's request.
      ['no InResponseTo', (doc) => confirmationData(doc).removeAttribute('InResponseTo')],
      ['another Recipient', (doc) => confirmationData(doc).setAttribute('Recipient', acsOf(w, 'other'))],
      ['no NotOnOrAfter', (doc) => confirmationData(doc).removeAttribute('NotOnOrAfter')],
      [
        'not bearer',
        (doc) =>
          assertionOf(doc)
            .getElementsByTagNameNS(ASSERTION_NS, 'SubjectConfirmation')[0]!
            .setAttribute('Method', 'urn:oasis:names:tc:SAML:2.0:cm:holder-of-key'),
      ],
    ];
    for (const [n, [why, change]] of variants.entries()) {
      const jar = new Jar();
      const f = await flow(jar);
      const bad = craft(template.SAMLResponse, { sign: idpKey, inResponseTo: f.requestId, assertionId: `_unbound-${n}`, beforeSigning: change });
      // node-saml refuses a confirmation without NotOnOrAfter itself (it computes the maximum age from it).
      await refused(jar, { SAMLResponse: bad, RelayState: f.RelayState }, /no bearer SubjectConfirmation|NotOnOrAfter/).catch((e) => {
        throw new Error(`${why}: ${e.message}`);
      });
    }
    const jar = new Jar();
    const f = await flow(jar);
    const elsewhere = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      assertionId: '_destination',
      afterSigning: (doc) => doc.documentElement.setAttribute('Destination', acsOf(w, 'other')),
    });
    await refused(jar, { SAMLResponse: elsewhere, RelayState: f.RelayState }, /another Destination/);
  });

  it('refuses the other wrapping shapes: an Advice holding the signed assertion, a signed Response around an unsigned assertion, the signed one hidden while another is read, another namespace', async () => {
    const forgedFrom = (signed: Element, id: string) => {
      const forged = signed.cloneNode(true) as Element;
      forged.setAttribute('ID', id);
      for (const sig of [...forged.getElementsByTagNameNS(DSIG_NS, 'Signature')]) sig.parentNode!.removeChild(sig);
      forged.getElementsByTagNameNS(ASSERTION_NS, 'NameID')[0]!.textContent = 'ada';
      return forged;
    };
    const shapes: [string, Craft, RegExp][] = [
      [
        'the signed assertion inside the Advice of a forged one',
        {
          sign: idpKey,
          afterSigning: (doc) => {
            const signed = assertionOf(doc);
            const forged = forgedFrom(signed, '_advice');
            const advice = doc.createElementNS(ASSERTION_NS, 'saml:Advice');
            signed.parentNode!.replaceChild(forged, signed);
            advice.appendChild(signed);
            forged.appendChild(advice);
          },
        },
        /expected one assertion/,
      ],
      ['a signed Response around an unsigned assertion', { sign: null, nameId: 'ada', signResponse: idpKey }, /SSO_FAILED: saml: Invalid signature/],
      [
        'the signed assertion in Extensions, a forged one with its ID read',
        {
          sign: idpKey,
          afterSigning: (doc) => {
            const signed = assertionOf(doc);
            const forged = forgedFrom(signed, signed.getAttribute('ID')!);
            const ext = doc.createElementNS('urn:oasis:names:tc:SAML:2.0:protocol', 'samlp:Extensions');
            signed.parentNode!.replaceChild(forged, signed);
            ext.appendChild(signed);
            doc.documentElement.insertBefore(ext, forged);
          },
        },
        /expected one assertion/,
      ],
      [
        'a forged Assertion of another namespace beside the signed one',
        {
          sign: idpKey,
          afterSigning: (doc) => {
            const signed = assertionOf(doc);
            const forged = doc.createElementNS('urn:evil', 'evil:Assertion');
            for (const child of [...(forgedFrom(signed, '_ns').childNodes as unknown as Node[])]) forged.appendChild(child);
            signed.parentNode!.insertBefore(forged, signed);
          },
        },
        /multiple assertions|expected one assertion/,
      ],
    ];
    for (const [n, [why, c, reason]] of shapes.entries()) {
      const jar = new Jar();
      const f = await flow(jar);
      const wrapped = craft(template.SAMLResponse, { ...c, inResponseTo: f.requestId, assertionId: `_wrap-${n}` });
      await refused(jar, { SAMLResponse: wrapped, RelayState: f.RelayState }, reason).catch((e) => {
        throw new Error(`${why}: ${e.message}`);
      });
    }
  });

  it('refuses a NameID of another format than the one asked for (an email, or none), and a transient one', async () => {
    const formats: [string, string | null][] = [
      ['email', 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'],
      ['no format', null],
      ['transient', 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient'],
    ];
    for (const [n, [why, format]] of formats.entries()) {
      const jar = new Jar();
      const f = await flow(jar);
      const other = craft(template.SAMLResponse, {
        sign: idpKey,
        inResponseTo: f.requestId,
        assertionId: `_format-${n}`,
        nameId: 'ada@example.org',
        beforeSigning: (doc) => {
          const nameId = assertionOf(doc).getElementsByTagNameNS(ASSERTION_NS, 'NameID')[0]!;
          if (format === null) nameId.removeAttribute('Format');
          else nameId.setAttribute('Format', format);
        },
      });
      await refused(jar, { SAMLResponse: other, RelayState: f.RelayState }, /not of the format asked for|transient/).catch((e) => {
        throw new Error(`${why}: ${e.message}`);
      });
    }
  });

  it('a comment inside the NameID does not cut it short (user.victim<!---->.evil is not user.victim)', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    // The IdP signs the attacker's own NameID `ada.evil`; a comment is put in after signing (c14n drops comments).
    const commented = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      assertionId: '_comment',
      nameId: 'ada.evil',
      afterSigning: (doc) => {
        const nameId = doc.getElementsByTagNameNS(ASSERTION_NS, 'NameID')[0]!;
        nameId.textContent = '';
        nameId.appendChild(doc.createTextNode('ada'));
        nameId.appendChild(doc.createComment(''));
        nameId.appendChild(doc.createTextNode('.evil'));
      },
    });
    const r = await postAcs(jar, acsOf(w, 'idp'), { SAMLResponse: commented, RelayState: f.RelayState });
    assert.equal(r.status, 302);
    const who = await me(w, jar);
    if (who.status === 200) {
      assert.notEqual(who.user.username, 'ada');
      const ok = (await eventsOf(w, 'sso.login')).find((e) => e.outcome === 'success' && e.subjectId === who.user.id);
      assert.equal(ok?.details.subject, 'ada.evil');
    }
  });

  it('an MFA class outside the AuthnStatement (inside an attribute value) does not count as MFA [ASVS V6.8.4]', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const smuggled = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      assertionId: '_mfa-in-attribute',
      beforeSigning: (doc) => {
        const value = assertionOf(doc).getElementsByTagNameNS(ASSERTION_NS, 'AttributeValue')[0]!;
        const ref = doc.createElementNS(ASSERTION_NS, 'saml:AuthnContextClassRef');
        ref.appendChild(doc.createTextNode('https://refeds.org/profile/mfa'));
        value.appendChild(ref);
      },
    });
    const r = await postAcs(jar, acsOf(w, 'idp'), { SAMLResponse: smuggled, RelayState: f.RelayState });
    assert.equal(r.location, '/');
    const who = await me(w, jar);
    assert.equal(who.user.username, 'ben');
    const ok = (await eventsOf(w, 'sso.login')).find((e) => e.outcome === 'success' && e.subjectId === who.user.id);
    assert.equal(ok?.details.providerMfa, false);
  });

  it('deeply nested, non-XML or non-base64 bodies land on the sign-in page, never a 5xx', async () => {
    const jar = new Jar();
    const f = await flow(jar);
    const deep = craft(template.SAMLResponse, {
      sign: idpKey,
      inResponseTo: f.requestId,
      assertionId: '_deep',
      afterSigning: (doc) => {
        const ext = doc.createElementNS('urn:oasis:names:tc:SAML:2.0:protocol', 'samlp:Extensions');
        let at: Element = ext;
        for (let i = 0; i < 20_000; i++) at = at.appendChild(doc.createElement('x')) as Element;
        doc.documentElement.insertBefore(ext, assertionOf(doc));
      },
    });
    assert.ok(deep.length < 262144, `${deep.length}`);
    const r = await postAcs(jar, acsOf(w, 'idp'), { SAMLResponse: deep, RelayState: f.RelayState });
    assert.equal(r.status, 302);
    assert.match(r.location ?? '', /^\/sign-in#error=SSO_FAILED$|^\/$/);
    const jar2 = new Jar();
    const f2 = await flow(jar2);
    const junk = await postAcs(jar2, acsOf(w, 'idp'), { SAMLResponse: '%%%not base64 <>', RelayState: f2.RelayState });
    assert.equal(junk.status, 302);
    assert.equal(junk.location, '/sign-in#error=SSO_FAILED');
    // Text that is no XML at all (xmldom throws on it rather than reporting an error).
    const f3 = await flow(jar2);
    await refused(jar2, { SAMLResponse: encode('hello, not xml'), RelayState: f3.RelayState }, /not XML/);
  });

  it('settings Palisade writes into its XML take URIs only: a control character or a noncharacter is refused, and the metadata and sign-in stay up (D466)', async () => {
    for (const [key, value] of [
      ['spEntityId', 'urn:sp\u0001'],
      ['spEntityId', 'urn:sp\ufffe'],
      ['idpEntityId', 'urn:idp with space'],
      ['nameIdFormat', 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified\u0007'],
    ] as const) {
      const r = await api(w, 'PATCH', '/api/admin/sso/providers/idp', { saml: { [key]: value } });
      assert.equal(r.status, 400, `${key}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, 'VALIDATION_FAILED');
    }
    assert.equal((await fetch(`${w.base}/api/auth/sso/idp/saml/metadata`)).status, 200);
    const jar = new Jar();
    assert.ok((await flow(jar)).requestId, 'a sign-in still starts');
  });
});
