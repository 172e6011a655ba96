import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Db } from '../../db/index.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import type { OidcSecrets } from './clients.js';

/** The secret store's name of the provider's signing keys (a private JWK set, newest first). */
export const SIGNING_KEYS_SECRET = 'oidcProvider.signingKeys';

/** How many generations of keys are kept: the current one signs, the one before still verifies. */
const GENERATIONS = 2;

interface KeySet {
  keys: JWK[];
}

async function generation(now: number): Promise<JWK[]> {
  const out: JWK[] = [];
  for (const alg of ['RS256', 'ES256'] as const) {
    // RSA of 3072 bits: 128-bit strength, as P-256 has (D419); 2048 bits give 112.
    const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 3072 } : {}) });
    const jwk = await exportJWK(privateKey);
    const kid = createHash('sha256')
      .update(`${alg}.${now}.${jwk.x ?? jwk.n}`)
      .digest('base64url')
      .slice(0, 16);
    out.push({ ...jwk, kid, alg, use: 'sig' });
  }
  return out;
}

/**
 * The provider's signing keys (an RS256 and an ES256 key per generation), generated once and kept encrypted in
 * the secret store. `rotate` puts a new generation first (it signs from then on) and keeps the last one
 * published, so tokens signed before still verify until they expire.
 */
export class SigningKeys {
  constructor(private readonly d: { db: Db; log: SecurityLog; now: () => number; secrets: OidcSecrets }) {}

  /** The key set, generated and stored when there is none yet. */
  async current(ctx: EventContext): Promise<JWK[]> {
    const stored = await this.d.secrets.value(SIGNING_KEYS_SECRET);
    if (stored !== null) return (JSON.parse(stored) as KeySet).keys;
    const keys = await generation(this.d.now());
    await this.d.db.transaction().execute(async (trx) => {
      await this.d.secrets.write(SIGNING_KEYS_SECRET, JSON.stringify({ keys }), ctx, trx);
      await this.d.log.record(ctx, { type: 'oidc_provider.keys_rotated', outcome: 'success', details: { kids: keys.map((k) => k.kid), first: true } }, trx);
    });
    // Another instance may have written its own at the same moment: the stored set is the one every instance uses.
    const again = await this.d.secrets.value(SIGNING_KEYS_SECRET);
    return again === null ? keys : (JSON.parse(again) as KeySet).keys;
  }

  /** A fingerprint of the stored set, to notice another instance's rotation. */
  async fingerprint(): Promise<string | null> {
    const stored = await this.d.secrets.value(SIGNING_KEYS_SECRET);
    return stored === null ? null : createHash('sha256').update(stored).digest('base64url');
  }

  async rotate(ctx: EventContext): Promise<string[]> {
    const old = await this.current(ctx);
    const fresh = await generation(this.d.now());
    const keep = old.slice(0, 2 * (GENERATIONS - 1));
    const keys = [...fresh, ...keep];
    await this.d.db.transaction().execute(async (trx) => {
      await this.d.secrets.write(SIGNING_KEYS_SECRET, JSON.stringify({ keys }), ctx, trx);
      await this.d.log.record(ctx, { type: 'oidc_provider.keys_rotated', outcome: 'success', details: { kids: keys.map((k) => k.kid) } }, trx);
    });
    return fresh.map((k) => k.kid!);
  }
}
