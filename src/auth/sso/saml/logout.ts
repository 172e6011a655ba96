import type { Profile, SAML } from '@node-saml/node-saml';
import { AppError } from '../../../errors.js';
import type { SamlProvider } from '../types.js';
import { samlAddresses } from './index.js';
import { childElements, strictXml, weakSignatureAlgorithm } from './xml.js';

const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';
const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
/** The largest SAMLRequest accepted (base64): a LogoutRequest is about two to four kilobytes, signed. */
export const MAX_LOGOUT_REQUEST = 16 * 1024;
/**
 * A signed LogoutRequest has about twenty elements, five deep. node-saml's signature lookup searches every descendant
 * for every Signature with an XPath that grows with the cube of their nesting (1,000 nested ones held the CPU 27 s):
 * the shape is bounded before it runs (D348).
 */
const MAX_ELEMENTS = 100;
const MAX_DEPTH = 12;

/** The deepest element's depth (the root is 1), walking without recursion. */
function depthOf(root: Element): number {
  let max = 0;
  const stack: Array<[Element, number]> = [[root, 1]];
  while (stack.length) {
    const [el, d] = stack.pop()!;
    if (d > max) max = d;
    for (const c of childElementsAll(el)) stack.push([c, d + 1]);
  }
  return max;
}
const childElementsAll = (el: Element): Element[] => [...(el.childNodes as unknown as Iterable<Node>)].filter((n): n is Element => n.nodeType === 1);
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
export function readLogoutRequest(raw: string, o: { idpEntityId: string; spEntityId: string; slo: string; skewMs: number; now: number }): LogoutRequestRead {
  if (raw.length === 0 || raw.length > MAX_LOGOUT_REQUEST) throw logoutInvalid('no SAMLRequest, or one too large');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(raw)) throw logoutInvalid('the SAMLRequest is not base64');
  const doc = strictXml(Buffer.from(raw, 'base64').toString('utf8'));
  if (!doc) throw logoutInvalid('the request is not XML, or holds a DTD');
  const root = doc.documentElement;
  if (root.namespaceURI !== PROTOCOL_NS || root.localName !== 'LogoutRequest') throw logoutInvalid('not a LogoutRequest');
  if ((doc.getElementsByTagName('*') as unknown as { length: number }).length > MAX_ELEMENTS) throw logoutInvalid('too many elements');
  if (depthOf(root) > MAX_DEPTH) throw logoutInvalid('nested too deep');
  // One signature, the root's own (enveloped): any other is a wrapping attempt, or the costly search above.
  if (countByLocalName(doc, ['Signature']) !== 1 || childElements(root, 'Signature', DSIG_NS).length !== 1) {
    throw logoutInvalid('expected exactly one Signature, a child of the LogoutRequest');
  }
  const weak = weakSignatureAlgorithm(doc);
  if (weak) throw logoutInvalid(`signed with ${weak.slice(0, 100)}, not an approved algorithm`);
  if (countByLocalName(doc, ['NameID', 'EncryptedID']) !== 1) throw logoutInvalid('expected exactly one NameID');
  const nameIds = childElements(root, 'NameID');
  if (nameIds.length + childElements(root, 'EncryptedID').length !== 1) throw logoutInvalid('the NameID is not where a LogoutRequest has it');
  if (countByLocalName(doc, ['SessionIndex']) > 1) throw logoutInvalid('more than one SessionIndex');
  const indexes = childElements(root, 'SessionIndex', PROTOCOL_NS);
  if (countByLocalName(doc, ['SessionIndex']) !== indexes.length) throw logoutInvalid('the SessionIndex is not where a LogoutRequest has it');
  const issuers = childElements(root, 'Issuer', SAML_NS);
  if (issuers.length !== 1 || (issuers[0]!.textContent ?? '').trim() !== o.idpEntityId) throw logoutInvalid('issuer mismatch');
  // A signed message by the HTTP-POST binding names where it is sent (SAML bindings 3.5.5.2): here, or it is not for us.
  if (root.getAttribute('Destination') !== o.slo) throw logoutInvalid('the request is for another Destination, or names none');
  const id = root.getAttribute('ID') ?? '';
  if (id.length === 0 || id.length > 256) throw logoutInvalid('no request ID');
  const issued = Date.parse(root.getAttribute('IssueInstant') ?? '');
  if (!Number.isFinite(issued)) throw logoutInvalid('no IssueInstant');
  if (issued > o.now + o.skewMs) throw logoutInvalid('IssueInstant in the future');
  if (issued < o.now - o.skewMs - LOGOUT_REQUEST_AGE_MS) throw logoutInvalid('IssueInstant too old');
  const sessionIndex = indexes.length ? (indexes[0]!.textContent ?? '').trim() : null;
  if (sessionIndex !== null && (sessionIndex.length === 0 || sessionIndex.length > 255)) throw logoutInvalid('SessionIndex empty or too long');
  const nameId = nameIds.length ? (nameIds[0]!.textContent ?? '') : null;
  // A NameID qualified for another service provider names a subject of that provider, not of ours.
  const spQualifier = nameIds[0]?.getAttribute('SPNameQualifier');
  if (spQualifier && spQualifier !== o.spEntityId) throw logoutInvalid('the NameID is qualified for another service provider');
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
    },
  ) {}

  /**
   * An IdP's LogoutRequest by the HTTP-POST binding (D342): our strict reading first (`readLogoutRequest`), then
   * node-saml's `validatePostRequestAsync`, which requires an enveloped signature of the root by one of the IdP's
   * certificates (and the Issuer, NotOnOrAfter). What it names: the NameID and the SessionIndex, node-saml's profile to
   * answer it with, and the request's ID with how long to keep it spent (the caller spends it with the logout).
   */
  async verifyLogoutRequest(p: SamlProvider, raw: string): Promise<{ subject: string; sid: string | null; request: Profile; id: string; until: number }> {
    const s = p.settings;
    const now = Date.now();
    const at = samlAddresses(this.d.publicUrl, p);
    const read = readLogoutRequest(raw, { idpEntityId: s.idpEntityId, spEntityId: at.entityId, slo: at.slo, skewMs: s.clockSkewSeconds * 1000, now });
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
    return { subject, sid: read.sessionIndex, request: profile, id: `logoutreq:${read.id}`, until: read.until };
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
