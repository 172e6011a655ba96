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

/** The element's child elements of this name and namespace (SAML's by default), in order: never a deeper descendant. */
export function childElements(el: Element | undefined, name: string, ns = SAML_NS): Element[] {
  if (!el) return [];
  return [...(el.childNodes as unknown as Iterable<Node>)].filter(
    (n): n is Element => n.nodeType === 1 && (n as Element).namespaceURI === ns && (n as Element).localName === name,
  );
}
