import { X509Certificate, createPrivateKey } from 'node:crypto';
import { AppError } from '../../../errors.js';
import type { SamlSettings } from '../types.js';

/** The secret store's name of a provider's SP private key when given through the provider's API. */
export const spKeyNameOf = (slug: string) => `sso.${slug}.spPrivateKey`;

/** A SAML provider's settings as the API and the CLI give them: each optional (a change names only what changes). */
export type SamlInput = Partial<SamlSettings> & {
  /** Write-only: our private key (PEM), stored in the secret store under `sso.<slug>.spPrivateKey`. */
  spPrivateKey?: string;
};

export const NAMEID_PERSISTENT = 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent';

export const SAML_DEFAULTS: Omit<SamlSettings, 'idpEntityId' | 'ssoUrl' | 'idpCertificates'> = {
  sloUrl: null,
  spEntityId: null,
  spCertificate: null,
  spPrivateKeyName: null,
  wantEncryptedAssertions: false,
  nameIdFormat: NAMEID_PERSISTENT,
  emailAttribute: 'mail',
  usernameAttribute: 'uid',
  groupsAttribute: 'groups',
  emailVerified: false,
  clockSkewSeconds: 60,
};

const invalid = (field: string, message: string) => new AppError('VALIDATION_FAILED', [{ path: `/saml/${field}`, message }]);

/** A certificate as PEM, from PEM or bare base64 DER; null when it is not an X.509 certificate. */
export function certificatePem(raw: string): string | null {
  const body = raw.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return null;
  const pem = `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  try {
    new X509Certificate(pem);
    return pem;
  } catch {
    return null;
  }
}

/** An IdP endpoint: https, or http on loopback only (a peer on the same machine, and the tests); a query is allowed. */
export function endpointProblem(raw: string): string | null {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return 'not a URL';
  }
  if (u.username || u.password || u.hash) return 'the address may not hold credentials or a fragment';
  if (u.protocol === 'https:') return null;
  if (u.protocol === 'http:' && (u.hostname === 'localhost' || u.hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(u.hostname))) return null;
  return 'must be https (http only on loopback)';
}

/** The settings after a change (or at creation, `old` null), checked as a whole. */
export function samlSettings(slug: string, old: SamlSettings | null, i: SamlInput): SamlSettings {
  const base: SamlSettings = old ?? { ...SAML_DEFAULTS, idpEntityId: '', ssoUrl: '', idpCertificates: [] };
  const pick = <K extends keyof SamlSettings>(k: K): SamlSettings[K] => (i[k] !== undefined ? (i[k] as SamlSettings[K]) : base[k]);
  const s: SamlSettings = {
    idpEntityId: pick('idpEntityId'),
    ssoUrl: pick('ssoUrl'),
    sloUrl: pick('sloUrl'),
    idpCertificates: pick('idpCertificates'),
    spEntityId: pick('spEntityId'),
    spCertificate: pick('spCertificate'),
    spPrivateKeyName: i.spPrivateKey !== undefined ? spKeyNameOf(slug) : pick('spPrivateKeyName'),
    wantEncryptedAssertions: pick('wantEncryptedAssertions'),
    nameIdFormat: pick('nameIdFormat'),
    emailAttribute: pick('emailAttribute'),
    usernameAttribute: pick('usernameAttribute'),
    groupsAttribute: pick('groupsAttribute'),
    emailVerified: pick('emailVerified'),
    clockSkewSeconds: pick('clockSkewSeconds'),
  };
  if (!s.idpEntityId) throw invalid('idpEntityId', 'required');
  const sso = endpointProblem(s.ssoUrl);
  if (sso) throw invalid('ssoUrl', sso);
  const slo = s.sloUrl === null ? null : endpointProblem(s.sloUrl);
  if (slo) throw invalid('sloUrl', slo);
  if (s.idpCertificates.length === 0) throw invalid('idpCertificates', "at least one of the IdP's signing certificates");
  s.idpCertificates = s.idpCertificates.map((c, n) => {
    const pem = certificatePem(c);
    if (!pem) throw invalid(`idpCertificates/${n}`, 'not an X.509 certificate (PEM or base64)');
    return pem;
  });
  if (s.spCertificate !== null) {
    const pem = certificatePem(s.spCertificate);
    if (!pem) throw invalid('spCertificate', 'not an X.509 certificate (PEM or base64)');
    s.spCertificate = pem;
  }
  if (i.spPrivateKey !== undefined) {
    try {
      createPrivateKey(i.spPrivateKey);
    } catch {
      throw invalid('spPrivateKey', 'not a private key (PEM)');
    }
  }
  if (s.wantEncryptedAssertions && (s.spCertificate === null || s.spPrivateKeyName === null)) {
    throw invalid('wantEncryptedAssertions', 'encrypted assertions need spCertificate and spPrivateKey');
  }
  return s;
}
