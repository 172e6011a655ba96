import type { Profile, SAML } from '@node-saml/node-saml';
import { AppError } from '../../../errors.js';
import type { SamlProvider } from '../types.js';
import { samlAddresses } from './index.js';
import { childElements, strictXml } from './xml.js';

const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
/** The largest SAMLRequest accepted (base64): a LogoutRequest is about two kilobytes, signed. */
export const MAX_LOGOUT_REQUEST = 64 * 1024;
/** How old a LogoutRequest may be (besides the clock skew): the IdP's browser posts it at once. */
export const LOGOUT_REQUEST_AGE_MS = 5 * 60_000;

/** What a LogoutRequest says, read by us before its signature is checked by node-saml. */
export interface LogoutRequestRead {
  id: string;
  /** The NameID's text, or null when the request carries an EncryptedID (node-saml decrypts it). */
  nameId: string | null;
  sessionIndex: string | null;
  /** Until when its ID is kept as spent. */
  until: number;
}

export const logoutInvalid = (why: string) => new AppError('SSO_LOGOUT_INVALID', undefined, why.slice(0, 300));

/** Every element of the document whose local name is one of `names`, in any namespace: a wrapped copy counts too. */
function countByLocalName(doc: Document, names: readonly string[]): number {
  return [...(doc.getElementsByTagName('*') as unknown as Iterable<Element>)].filter((e) => names.includes(e.localName)).length;
}

/**
 * Our own checks of an IdP's LogoutRequest (HTTP-POST binding), before node-saml verifies its signature (D342): XML
 * without a DTD, a `samlp:LogoutRequest` root, exactly one NameID or EncryptedID and at most one SessionIndex in the
 * whole document (a second one, wrapped where the signature does not cover it, is refused), the IdP as Issuer, our
 * SLO address as Destination when one is named, and an IssueInstant no older than five minutes (plus the skew) and
 * not in the future.
 */
export function readLogoutRequest(raw: string, o: { idpEntityId: string; slo: string; skewMs: number; now: number }): LogoutRequestRead {
  if (raw.length === 0 || raw.length > MAX_LOGOUT_REQUEST) throw logoutInvalid('no SAMLRequest, or one too large');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(raw)) throw logoutInvalid('the SAMLRequest is not base64');
  const doc = strictXml(Buffer.from(raw, 'base64').toString('utf8'));
  if (!doc) throw logoutInvalid('the request is not XML, or holds a DTD');
  const root = doc.documentElement;
  if (root.namespaceURI !== PROTOCOL_NS || root.localName !== 'LogoutRequest') throw logoutInvalid('not a LogoutRequest');
  if (countByLocalName(doc, ['NameID', 'EncryptedID']) !== 1) throw logoutInvalid('expected exactly one NameID');
  const nameIds = childElements(root, 'NameID');
  if (nameIds.length + childElements(root, 'EncryptedID').length !== 1) throw logoutInvalid('the NameID is not where a LogoutRequest has it');
  if (countByLocalName(doc, ['SessionIndex']) > 1) throw logoutInvalid('more than one SessionIndex');
  const indexes = childElements(root, 'SessionIndex', PROTOCOL_NS);
  if (countByLocalName(doc, ['SessionIndex']) !== indexes.length) throw logoutInvalid('the SessionIndex is not where a LogoutRequest has it');
  const issuers = childElements(root, 'Issuer', SAML_NS);
  if (issuers.length !== 1 || (issuers[0]!.textContent ?? '').trim() !== o.idpEntityId) throw logoutInvalid('issuer mismatch');
  const destination = root.getAttribute('Destination');
  if (destination && destination !== o.slo) throw logoutInvalid('the request is for another Destination');
  const id = root.getAttribute('ID') ?? '';
  if (id.length === 0 || id.length > 256) throw logoutInvalid('no request ID');
  const issued = Date.parse(root.getAttribute('IssueInstant') ?? '');
  if (!Number.isFinite(issued)) throw logoutInvalid('no IssueInstant');
  if (issued > o.now + o.skewMs) throw logoutInvalid('IssueInstant in the future');
  if (issued < o.now - o.skewMs - LOGOUT_REQUEST_AGE_MS) throw logoutInvalid('IssueInstant too old');
  const sessionIndex = indexes.length ? (indexes[0]!.textContent ?? '').trim() : null;
  if (sessionIndex !== null && (sessionIndex.length === 0 || sessionIndex.length > 255)) throw logoutInvalid('SessionIndex empty or too long');
  const nameId = nameIds.length ? (nameIds[0]!.textContent ?? '') : null;
  return { id, nameId, sessionIndex, until: issued + 2 * o.skewMs + LOGOUT_REQUEST_AGE_MS };
}

/**
 * SAML single logout (D341–D346), front channel: the IdP's LogoutRequest by the HTTP-POST binding verified, and our
 * LogoutResponse and LogoutRequest by the HTTP-Redirect binding, through node-saml.
 */
export class SamlSingleLogout {
  constructor(
    private readonly d: {
      /** node-saml's SP for the provider (`SamlProtocol.sp`). */
      sp: (p: SamlProvider) => Promise<SAML>;
      publicUrl: string;
      /** Records an id until it expires; false when it was seen before (a replay). */
      spendAssertion: (provider: string, id: string, until: number) => Promise<boolean>;
    },
  ) {}

  /**
   * An IdP's LogoutRequest by the HTTP-POST binding (D342): our strict reading first (`readLogoutRequest`), then
   * node-saml's `validatePostRequestAsync`, which requires an enveloped signature of the root by one of the IdP's
   * certificates (and the Issuer, NotOnOrAfter); then the request ID spent once. What it names: the NameID and the
   * SessionIndex, and node-saml's profile to answer it with.
   */
  async verifyLogoutRequest(p: SamlProvider, raw: string): Promise<{ subject: string; sid: string | null; request: Profile }> {
    const s = p.settings;
    const now = Date.now();
    const read = readLogoutRequest(raw, { idpEntityId: s.idpEntityId, slo: samlAddresses(this.d.publicUrl, p).slo, skewMs: s.clockSkewSeconds * 1000, now });
    const saml = await this.d.sp(p);
    let profile: Profile | null;
    try {
      profile = (await saml.validatePostRequestAsync({ SAMLRequest: raw })).profile;
    } catch (e) {
      throw logoutInvalid(`saml: ${e instanceof Error ? e.message : 'invalid'}`);
    }
    // What node-saml read (from its own parse) must be what we read: one document, one meaning.
    if (!profile || profile.ID !== read.id || profile.issuer !== s.idpEntityId) throw logoutInvalid('the request was read two ways');
    if ((read.nameId !== null && profile.nameID !== read.nameId) || (profile.sessionIndex?.trim() ?? null) !== read.sessionIndex) {
      throw logoutInvalid('the request was read two ways');
    }
    const subject = profile.nameID;
    if (!subject || subject.length > 255) throw logoutInvalid('NameID missing or longer than 255 characters');
    if (!(await this.d.spendAssertion(p.slug, `logoutreq:${read.id}`, read.until))) throw logoutInvalid('logout request replayed');
    return { subject, sid: read.sessionIndex, request: profile };
  }

  /** The IdP's SLO address with our LogoutResponse to `request` (HTTP-Redirect binding; signed when the SP key is set). */
  async logoutResponseUrl(p: SamlProvider, request: Profile, relayState: string): Promise<string> {
    const saml = await this.d.sp(p);
    return saml.getLogoutResponseUrlAsync(request, relayState, {}, true);
  }

  /** The IdP's SLO address with our LogoutRequest for the subject's session (HTTP-Redirect binding; signed when the SP key is set). */
  async logoutRequestUrl(p: SamlProvider, subject: string, sessionIndex: string | null): Promise<string> {
    const saml = await this.d.sp(p);
    const user: Profile = { issuer: p.settings.idpEntityId, nameID: subject, nameIDFormat: p.settings.nameIdFormat, ...(sessionIndex ? { sessionIndex } : {}) };
    return saml.getLogoutUrlAsync(user, '', {});
  }
}
