import { X509Certificate } from 'node:crypto';
import { rootCertificates } from 'node:tls';

export interface CertificateVerdict {
  status: 'pass' | 'warn' | 'fail';
  detail: string;
  fix: string;
}

const DAY = 86_400_000;
/** Renewal tools renew 30 days ahead: two weeks left means the renewal has failed for two weeks. */
const EXPIRY_WARNING_DAYS = 14;

const FIX_TRUST =
  'For users on the internet, use a certificate from a public CA (ACME, such as Let’s Encrypt) with its intermediates in TLS_CERT_FILE; keep a private CA for internal users whose devices trust it.';

/** The certificates of a PEM file, leaf first. Text that is not a certificate is ignored (the boot already refused it). */
function certificates(pem: string): X509Certificate[] {
  return [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)].flatMap((m) => {
    try {
      return [new X509Certificate(m[0])];
    } catch {
      return [];
    }
  });
}

let bundled: X509Certificate[] | null = null;
/** Node's bundled root store: Mozilla's, the list browsers share, never the host's own additions. */
function publicRoots(): X509Certificate[] {
  bundled ??= rootCertificates.map((p) => new X509Certificate(p));
  return bundled;
}

const issuedBy = (c: X509Certificate, issuer: X509Certificate) => c.checkIssued(issuer) && c.verify(issuer.publicKey);
const cn = (c: X509Certificate) => /(?:^|\n)CN=([^\n]*)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');

/**
 * Whether the chain built-in TLS serves (TLS_CERT_FILE) is one browsers accept without configuration: the leaf
 * and the intermediates in the file lead, signature by signature, to a publicly trusted root (ASVS V12.2.2, D391),
 * and the leaf is within its validity. `roots` is for tests.
 */
export function certificateVerdict(pem: string, now: number, roots: readonly X509Certificate[] = publicRoots()): CertificateVerdict {
  const chain = certificates(pem);
  const leaf = chain[0];
  if (leaf === undefined)
    return { status: 'fail', detail: 'TLS_CERT_FILE holds no certificate', fix: 'Put the certificate and its intermediates, PEM, in TLS_CERT_FILE.' };
  const until = Date.parse(leaf.validTo);
  if (until <= now) return { status: 'fail', detail: `the certificate for ${cn(leaf)} expired on ${leaf.validTo}`, fix: 'Renew the certificate.' };
  let current = leaf;
  let root: X509Certificate | undefined;
  const used = new Set<X509Certificate>([leaf]);
  for (;;) {
    root = roots.find((r) => issuedBy(current, r));
    if (root !== undefined) break;
    const next = chain.find((c) => !used.has(c) && issuedBy(current, c));
    if (next === undefined) break;
    used.add(next);
    current = next;
  }
  if (root === undefined) {
    const self = issuedBy(current, current);
    const detail = self
      ? `the certificate for ${cn(leaf)} chains to ${current === leaf ? 'itself (self-signed)' : `${cn(current)}`}, a root browsers do not trust`
      : `the certificate for ${cn(leaf)} does not lead to a publicly trusted root (an intermediate missing from TLS_CERT_FILE, or a private CA)`;
    return { status: 'warn', detail, fix: FIX_TRUST };
  }
  if (until - now < EXPIRY_WARNING_DAYS * DAY) {
    return {
      status: 'warn',
      detail: `the certificate for ${cn(leaf)} expires on ${leaf.validTo}`,
      fix: 'Renew the certificate; check that the renewal tool runs.',
    };
  }
  return { status: 'pass', detail: `${cn(leaf)}, publicly trusted through ${cn(root)}, valid until ${leaf.validTo}`, fix: '' };
}
