import { createChallenge, randomInt, verifySolution, type Challenge } from 'altcha-lib';
import { deriveKey as pbkdf2 } from 'altcha-lib/algorithms/pbkdf2';
import sjson from 'secure-json-parse';
import Type from 'typebox';
import { Compile } from 'typebox/compile';
import type { SharedState } from '../../shared-state/index.js';
import { deriveKey } from '../keys.js';
import type { BotCheckSettings } from './settings.js';

/** PBKDF2 runs natively in every browser (SubtleCrypto) and on the server's thread pool. */
export const POW_ALGORITHM = 'PBKDF2/SHA-256';

export type PowRefusal = 'malformed' | 'expired' | 'bad_signature' | 'bad_solution' | 'replayed';

/** A challenge as issued: signed, with its key signature and expiry (seconds since the epoch). */
export type IssuedChallenge = Challenge & { parameters: Challenge['parameters'] & { keySignature: string; expiresAt: number }; signature: string };

const Hex = (max: number) => Type.String({ pattern: '^[0-9a-f]+$', maxLength: max });
/** The shape of an ALTCHA v2 payload; the challenge's signature covers its parameters. */
const PayloadSchema = Type.Object({
  challenge: Type.Object({
    parameters: Type.Object({
      algorithm: Type.Literal(POW_ALGORITHM),
      nonce: Hex(64),
      salt: Hex(64),
      cost: Type.Integer({ minimum: 1 }),
      keyLength: Type.Integer({ minimum: 1, maximum: 64 }),
      keyPrefix: Hex(128),
      keySignature: Hex(128),
      expiresAt: Type.Integer({ minimum: 1 }),
    }),
    signature: Hex(128),
  }),
  solution: Type.Object({ counter: Type.Integer({ minimum: 0 }), derivedKey: Hex(128) }),
});
const validPayload = Compile(PayloadSchema);

/**
 * The self-hosted proof of work (AUTH-15) on altcha-lib, in its deterministic mode: the server
 * derives the key for a secret counter and signs it, so a client must try about that many keys
 * while the server verifies with one HMAC. Challenges are signed with keys derived from APP_KEY
 * (any instance verifies them), expire, and each is accepted once: its signature is claimed in the
 * durable shared state for as long as it could still be presented.
 */
export class PowChallenges {
  private readonly signSecret: string;
  private readonly keySecret: string;

  constructor(
    appKey: string,
    private readonly spent: SharedState,
    private readonly now: () => number,
  ) {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    this.signSecret = hex(deriveKey(appKey, 'bot-check', 'palisade/bot-check/pow-challenge/v1'));
    this.keySecret = hex(deriveKey(appKey, 'bot-check', 'palisade/bot-check/pow-key/v1'));
  }

  async create(s: BotCheckSettings): Promise<IssuedChallenge> {
    const c = await createChallenge({
      algorithm: POW_ALGORITHM,
      cost: s.powCost,
      counter: randomInt(s.powMaxNumber, Math.ceil(s.powMaxNumber / 2)),
      deriveKey: pbkdf2,
      expiresAt: Math.floor(this.now() / 1000) + s.powExpiry,
      hmacSignatureSecret: this.signSecret,
      hmacKeySignatureSecret: this.keySecret,
    });
    const { keySignature, expiresAt } = c.parameters;
    if (c.signature === undefined || keySignature === undefined || expiresAt === undefined) throw new Error('altcha-lib issued an unsigned challenge');
    return { ...c, parameters: { ...c.parameters, keySignature, expiresAt }, signature: c.signature };
  }

  /** Checks a payload (base64 JSON, as the ALTCHA widget sends it) and spends it: null when it passes. */
  async spend(payload: string): Promise<PowRefusal | null> {
    let parsed: unknown;
    try {
      parsed = sjson.parse(Buffer.from(payload, 'base64').toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' });
    } catch {
      return 'malformed';
    }
    if (!validPayload.Check(parsed)) return 'malformed';
    const { challenge, solution } = parsed;
    // Expiry on the service clock (altcha-lib checks the wall clock too, which is the same in production).
    const expiresMs = challenge.parameters.expiresAt * 1000;
    if (expiresMs <= this.now()) return 'expired';
    let r: Awaited<ReturnType<typeof verifySolution>>;
    try {
      r = await verifySolution({ challenge, solution, deriveKey: pbkdf2, hmacSignatureSecret: this.signSecret, hmacKeySignatureSecret: this.keySecret });
    } catch {
      return 'malformed';
    }
    if (r.expired) return 'expired';
    if (r.invalidSignature) return 'bad_signature';
    if (!r.verified) return 'bad_solution';
    // Claimed only once verified, so junk cannot fill the store; kept while the challenge could be presented.
    const ttl = expiresMs - this.now() + 60_000;
    return (await this.spent.setIfAbsent(`botcheck:pow:${challenge.signature}`, '1', ttl)) ? null : 'replayed';
  }
}
