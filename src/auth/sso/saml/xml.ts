import { DOMParser } from '@xmldom/xmldom';

const SAML_NS = 'urn:oasis:names:tc:SAML:2.0:assertion';

/**
 * Parses XML without DTDs (no entities at all) and without tolerating errors; null when it is not such XML. xmldom
 * throws on a fatal error (no root element: an empty or non-XML body), which must be a refusal, never a 500 (D316).
 */
export function strictXml(xml: string): Document | null {
  let bad = false;
  try {
    const doc = new DOMParser({
      onError: () => {
        bad = true;
      },
    }).parseFromString(xml, 'text/xml');
    if (bad || !doc?.documentElement || doc.doctype) return null;
    return doc as unknown as Document;
  } catch {
    return null;
  }
}

const DSIG_NS = 'http://www.w3.org/2000/09/xmldsig#';
const MORE = 'http://www.w3.org/2001/04/xmldsig-more#';
/** XML signature algorithms of 128-bit strength or more (D418): SHA-1 (rsa-sha1, dsa-sha1, its digest) is not among them. */
const APPROVED_SIGNATURE = new Set(['rsa-sha256', 'rsa-sha384', 'rsa-sha512', 'ecdsa-sha256', 'ecdsa-sha384', 'ecdsa-sha512'].map((a) => MORE + a));
const APPROVED_DIGEST = new Set(['http://www.w3.org/2001/04/xmlenc#sha256', `${MORE}sha384`, 'http://www.w3.org/2001/04/xmlenc#sha512']);

/**
 * The first signature or reference digest algorithm in the document that is not approved, or null. xml-crypto still
 * verifies RSA-SHA1 and SHA-1 digests, so this runs before it. Only a Reference's digest counts: the DigestMethod
 * inside an RSA-OAEP EncryptionMethod is the padding's mask function, not an integrity hash.
 */
export function weakSignatureAlgorithm(doc: Document): string | null {
  for (const el of [...(doc.getElementsByTagNameNS(DSIG_NS, 'SignatureMethod') as unknown as Iterable<Element>)]) {
    const alg = el.getAttribute('Algorithm') ?? '';
    if (!APPROVED_SIGNATURE.has(alg)) return alg || 'a SignatureMethod without Algorithm';
  }
  for (const el of [...(doc.getElementsByTagNameNS(DSIG_NS, 'DigestMethod') as unknown as Iterable<Element>)]) {
    const parent = el.parentNode as Element | null;
    if (parent?.namespaceURI !== DSIG_NS || parent.localName !== 'Reference') continue;
    const alg = el.getAttribute('Algorithm') ?? '';
    if (!APPROVED_DIGEST.has(alg)) return alg || 'a DigestMethod without Algorithm';
  }
  return null;
}

/** The element's child elements of this name and namespace (SAML's by default), in order: never a deeper descendant. */
export function childElements(el: Element | undefined, name: string, ns = SAML_NS): Element[] {
  if (!el) return [];
  return [...(el.childNodes as unknown as Iterable<Node>)].filter(
    (n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === name,
  );
}
