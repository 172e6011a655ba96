import type { CacheProvider, Profile, SAML } from '@node-saml/node-saml';
import { AppError } from '../../../errors.js';
import { providerEmail } from '../accounts.js';
import { FLOW_VALIDITY_MS } from '../flows.js';
import type { CallbackInput, FlowSecrets, ProvenIdentity, RedirectProtocol, SamlProvider } from '../types.js';
import { childElements, strictXml, weakSignatureAlgorithm } from './xml.js';
import { safeEqual } from '../../../util/safe-equal.js';

export { childElements, strictXml } from './xml.js';

const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const TRANSIENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient';
const UNSPECIFIED = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';
/** The largest SAMLResponse accepted (base64): a real one is a few kilobytes. */
const MAX_RESPONSE = 256 * 1024;

/**
 * The authentication context classes that say more than one factor was used (D305): SAML's two-factor classes,
 * REFEDS MFA and Microsoft's. A class naming one strong factor (a smartcard, a time-sync token alone) is not counted.
 */
const MFA_CLASSES: ReadonlySet<string> = new Set([
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract',
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered',
  'https://refeds.org/profile/mfa',
  'http://schemas.microsoft.com/claims/multipleauthn',
]);

/** Where our addresses are: the SP entity id, the assertion consumer service and the metadata. */
export const samlAddresses = (publicUrl: string, p: SamlProvider) => {
  const at = `${publicUrl}/api/auth/sso/${p.slug}`;
  return { entityId: p.settings.spEntityId ?? `${at}/saml/metadata`, acs: `${at}/acs`, metadata: `${at}/saml/metadata`, slo: `${at}/saml/slo` };
};

/**
 * The bearer confirmation the Web SSO profile requires (SAML profiles, 4.1.4.2–3), read from the signed assertion:
 * a `SubjectConfirmation` of method bearer whose data answers this flow's request (InResponseTo), at this ACS
 * (Recipient), and is not past its NotOnOrAfter. node-saml compares only the (unsigned) Response's InResponseTo and
 * lets an assertion without one through: an unsolicited assertion could otherwise be used in any flow (D313).
 */
function bearerConfirmed(a: Element, requestId: string, acs: string, skewMs: number, now: number): boolean {
  const subject = childElements(a, 'Subject')[0];
  return childElements(subject, 'SubjectConfirmation').some((sc) => {
    if (sc.getAttribute('Method') !== BEARER) return false;
    const d = childElements(sc, 'SubjectConfirmationData')[0];
    if (!d) return false;
    const notOnOrAfter = Date.parse(d.getAttribute('NotOnOrAfter') ?? '');
    const notBefore = d.getAttribute('NotBefore') ? Date.parse(d.getAttribute('NotBefore')!) : Number.NEGATIVE_INFINITY;
    return (
      d.getAttribute('InResponseTo') === requestId &&
      d.getAttribute('Recipient') === acs &&
      Number.isFinite(notOnOrAfter) &&
      now - skewMs < notOnOrAfter &&
      !Number.isNaN(notBefore) &&
      now + skewMs >= notBefore
    );
  });
}

/** A cache that lets node-saml see only this flow's request id (the flow row, spent once, is the real store). */
function flowCache(expectedId: string | null, seen: (id: string) => void): CacheProvider {
  return {
    saveAsync: async (key, value) => {
      seen(key);
      return { createdAt: Date.now(), value };
    },
    getAsync: async (key) => (expectedId !== null && key === expectedId ? new Date().toISOString() : null),
    removeAsync: async () => null,
  };
}

/**
 * The SAML 2.0 service provider (`@node-saml/node-saml`): an AuthnRequest by the HTTP-Redirect binding, the
 * answer at the assertion consumer service by HTTP-POST. The assertion must be signed by one of the IdP's
 * certificates, name the IdP as issuer and us as audience, be within its validity (plus the allowed skew),
 * answer this flow's request at this ACS (its own bearer confirmation's InResponseTo and Recipient, D313), name a
 * NameID of the format asked for (D317) and be seen once (`spendAssertion`, in the database).
 */
export class SamlProtocol implements RedirectProtocol<SamlProvider> {
  constructor(
    private readonly d: {
      resolveSecret: (name: string) => Promise<string | null>;
      publicUrl: string;
      /** Records an assertion id until it expires; false when it was seen before (a replay). */
      spendAssertion: (provider: string, id: string, notOnOrAfter: number) => Promise<boolean>;
    },
  ) {}

  private async saml(p: SamlProvider, cache: CacheProvider): Promise<SAML> {
    const s = p.settings;
    const at = samlAddresses(this.d.publicUrl, p);
    const key = s.spPrivateKeyName ? await this.d.resolveSecret(s.spPrivateKeyName) : null;
    if (s.spPrivateKeyName && !key && s.wantEncryptedAssertions) throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, 'the SP private key is not set');
    // node-saml (and its XML signature stack) is loaded on first use: most servers never see a SAML provider.
    const { SAML: Sp, ValidateInResponseTo } = await import('@node-saml/node-saml');
    return new Sp({
      entryPoint: s.ssoUrl,
      // Single logout only with an IdP that has an SLO service: then the metadata names ours (HTTP-POST binding).
      ...(s.sloUrl ? { logoutUrl: s.sloUrl, logoutCallbackUrl: at.slo } : {}),
      issuer: at.entityId,
      audience: at.entityId,
      callbackUrl: at.acs,
      idpCert: s.idpCertificates,
      idpIssuer: s.idpEntityId,
      wantAssertionsSigned: true,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: s.clockSkewSeconds * 1000,
      identifierFormat: s.nameIdFormat,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: FLOW_VALIDITY_MS,
      cacheProvider: cache,
      disableRequestedAuthnContext: true,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      ...(key ? { decryptionPvk: key, privateKey: key } : {}),
    });
  }

  async start(p: SamlProvider): Promise<{ url: string; kept: FlowSecrets }> {
    let requestId = '';
    const state = randomState();
    const saml = await this.saml(
      p,
      flowCache(null, (id) => {
        requestId = id;
      }),
    );
    const url = await saml.getAuthorizeUrlAsync(state, undefined, {});
    if (!requestId) throw new AppError('SSO_PROVIDER_UNAVAILABLE', undefined, 'no AuthnRequest id');
    return { url, kept: { state, nonce: requestId, codeVerifier: '' } };
  }

  stateOf(cb: CallbackInput): string | null {
    return cb.form?.RelayState ?? null;
  }

  providerError(cb: CallbackInput): string | null {
    return cb.form?.SAMLResponse ? null : 'no SAMLResponse';
  }

  /** Our metadata for the IdP: entity id, ACS (HTTP-POST), SLO, NameID format, our certificate when set. */
  async metadata(p: SamlProvider): Promise<string> {
    const saml = await this.saml(
      p,
      flowCache(null, () => {}),
    );
    const cert = p.settings.spCertificate;
    const xml = saml.generateServiceProviderMetadata(cert, cert);
    // Assertions are required signed: say so to the IdP.
    return xml.replace('WantAssertionsSigned="false"', 'WantAssertionsSigned="true"');
  }

  /** node-saml's SP for this provider, outside a sign-in flow (single logout: `logout.ts`). */
  sp(p: SamlProvider): Promise<SAML> {
    return this.saml(
      p,
      flowCache(null, () => {}),
    );
  }

  async finish(p: SamlProvider, cb: CallbackInput, kept: FlowSecrets & { state: string }): Promise<ProvenIdentity> {
    const s = p.settings;
    const raw = cb.form?.SAMLResponse ?? '';
    if (raw.length === 0 || raw.length > MAX_RESPONSE) throw failed('no SAMLResponse, or one too large');
    const doc = strictXml(Buffer.from(raw, 'base64').toString('utf8'));
    if (!doc) throw failed('the response is not XML, or holds a DTD');
    const plain = doc.getElementsByTagNameNS(SAML_NS, 'Assertion').length;
    const encrypted = doc.getElementsByTagNameNS(SAML_NS, 'EncryptedAssertion').length;
    // One assertion, no more: a second one is the classic signature-wrapping shape.
    if (plain + encrypted !== 1) throw failed(`expected one assertion, found ${plain + encrypted}`);
    if (s.wantEncryptedAssertions && encrypted !== 1) throw failed('the assertion is not encrypted');
    const acs = samlAddresses(this.d.publicUrl, p).acs;
    // A Response that names where it is sent must name this ACS (SAML core 3.2.2; profiles 4.1.4.5).
    const destination = doc.documentElement.getAttribute('Destination');
    if (destination && destination !== acs) throw failed('the response is for another Destination');
    const weak = weakSignatureAlgorithm(doc);
    if (weak) throw failed(`the response is signed with ${weak.slice(0, 100)}, not an approved algorithm`);
    const saml = await this.saml(
      p,
      flowCache(kept.nonce, () => {}),
    );
    let profile: Profile | null;
    try {
      const r = await saml.validatePostResponseAsync({ SAMLResponse: raw });
      profile = r.loggedOut ? null : r.profile;
    } catch (e) {
      throw failed(`saml: ${e instanceof Error ? e.message : 'invalid'}`);
    }
    if (!profile) throw failed('no assertion');
    if (profile.issuer !== s.idpEntityId) throw failed('issuer mismatch');
    if (typeof profile.inResponseTo !== 'string' || !safeEqual(profile.inResponseTo, kept.nonce)) throw failed('InResponseTo is not this flow');
    const assertion = strictXml(profile.getAssertionXml?.() ?? '');
    const a = assertion?.documentElement;
    const id = a?.getAttribute('ID');
    if (!a || !id) throw failed('assertion without ID');
    // An encrypted assertion's own signature is only seen once decrypted.
    const weakInside = weakSignatureAlgorithm(a.ownerDocument);
    if (weakInside) throw failed(`the assertion is signed with ${weakInside.slice(0, 100)}, not an approved algorithm`);
    if (!bearerConfirmed(a, kept.nonce, acs, s.clockSkewSeconds * 1000, Date.now())) {
      throw failed('no bearer SubjectConfirmation for this request at this ACS (InResponseTo, Recipient, NotOnOrAfter)');
    }
    const conditions = childElements(a, 'Conditions')[0];
    const notOnOrAfter = Date.parse(conditions?.getAttribute('NotOnOrAfter') ?? '');
    // Kept until the assertion expires (an hour when it does not say), across instances: the database.
    const until = Number.isFinite(notOnOrAfter) ? notOnOrAfter + s.clockSkewSeconds * 1000 : Date.now() + 3600_000;
    if (!(await this.d.spendAssertion(p.slug, id, until))) throw failed('assertion_replayed');
    const subject = profile.nameID;
    if (!subject || subject.length > 255) throw failed('NameID missing or longer than 255 characters');
    if (profile.nameIDFormat === TRANSIENT) throw failed('a transient NameID cannot name an identity');
    // The NameID must be of the format asked for (an IdP that cannot must answer an error, SAML core 3.4.1.1): a
    // subject of another format (an editable email, a username) would be another namespace under the same link (D317).
    const format = profile.nameIDFormat ?? UNSPECIFIED;
    if (s.nameIdFormat !== UNSPECIFIED && format !== s.nameIdFormat) throw failed('the NameID is not of the format asked for');
    const claims: Record<string, unknown> = Object.create(null);
    for (const [name, value] of Object.entries((profile.attributes ?? {}) as Record<string, unknown>)) {
      const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
      if (values.length) claims[name] = values.length === 1 && !Array.isArray(value) ? values[0] : values;
    }
    const first = (name: string): string | null => {
      const v = claims[name];
      return typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : null;
    };
    const { email, canonical } = providerEmail(first(s.emailAttribute));
    const groups = claims[s.groupsAttribute];
    // Only the assertion's own statements: never a class inside an attribute value or an Advice's assertion (D315).
    const classes = childElements(a, 'AuthnStatement')
      .flatMap((st) => childElements(st, 'AuthnContext'))
      .flatMap((c) => childElements(c, 'AuthnContextClassRef'))
      .map((n) => (n.textContent ?? '').trim());
    const out: Record<string, unknown> = {
      ...claims,
      nameID: subject,
      email,
      username: first(s.usernameAttribute),
      groups: typeof groups === 'string' ? [groups] : (groups ?? []),
      authnContextClassRef: classes,
    };
    return {
      issuer: s.idpEntityId,
      subject,
      email,
      emailVerified: s.emailVerified && canonical && email !== null,
      username: first(s.usernameAttribute),
      claims: out,
      mfa: classes.some((c) => MFA_CLASSES.has(c)),
      // The IdP's session (AuthnStatement SessionIndex): a LogoutRequest names it.
      providerSession: profile.sessionIndex && profile.sessionIndex.length <= 255 ? profile.sessionIndex : null,
    };
  }
}

const failed = (why: string) => new AppError('SSO_FAILED', undefined, why.slice(0, 300));
const randomState = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
