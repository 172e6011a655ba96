/**
 * The bot check of sign-in and forgot-password (AUTH-15) in the page. The server says whether one is
 * needed (GET /api/auth/bot-check). Its self-hosted proof of work is an ALTCHA v2 challenge in
 * deterministic mode: find the counter whose PBKDF2-SHA-256 key (password = nonce bytes followed by the
 * counter as a big-endian uint32, salt = salt bytes, `cost` iterations, `keyLength` bytes) starts with
 * `keyPrefix`; the proof is the base64 JSON of the challenge and that solution. Web Crypto derives the
 * keys (no script from elsewhere, nothing eval'd). reCAPTCHA would need Google's script, which the
 * app's Content-Security-Policy does not allow: that mode is reported, not run.
 */
import { api, ApiError } from './api';

export interface BotCheckStatus {
  kind: 'off' | 'pow' | 'recaptcha';
  required: boolean;
  siteKey: string | null;
}

interface Challenge {
  parameters: {
    algorithm: string;
    nonce: string;
    salt: string;
    cost: number;
    keyLength: number;
    keyPrefix: string;
    keySignature: string;
    expiresAt: number;
  };
  signature: string;
}

/** The server asks for reCAPTCHA, which this page cannot run under its CSP. */
export class RecaptchaUnsupported extends Error {
  readonly code = 'BOT_CHECK_RECAPTCHA';
  constructor() {
    super('This sign-in page cannot show the reCAPTCHA check; the proof-of-work check is needed instead.');
  }
}

const hexToBytes = (hex: string): Uint8Array<ArrayBuffer> => {
  const out = new Uint8Array(new ArrayBuffer(hex.length / 2));
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
};
const bytesToHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

async function deriveKey(c: Challenge['parameters'], salt: Uint8Array<ArrayBuffer>, nonce: Uint8Array, counter: number): Promise<Uint8Array> {
  const password = new Uint8Array(nonce.length + 4);
  password.set(nonce, 0);
  new DataView(password.buffer).setUint32(nonce.length, counter, false);
  const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations: c.cost }, key, c.keyLength * 8);
  return new Uint8Array(bits);
}

/** Solves one challenge; `progress` hears how many keys were tried. Throws when it cannot be solved in time. */
export async function solveChallenge(challenge: Challenge, progress?: (tried: number) => void, signal?: AbortSignal): Promise<string> {
  const p = challenge.parameters;
  if (p.algorithm !== 'PBKDF2/SHA-256') throw new Error(`unsupported proof-of-work algorithm ${p.algorithm}`);
  const nonce = hexToBytes(p.nonce);
  const salt = hexToBytes(p.salt);
  const prefix = p.keyPrefix.toLowerCase();
  // A few derivations at once: Web Crypto runs them off the main thread.
  const batch = 8;
  // The server draws the secret counter below its powMaxNumber (at most 10 million).
  for (let start = 0; start < 10_000_000 + batch; start += batch) {
    if (signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const counters = Array.from({ length: batch }, (_, i) => start + i);
    const keys = await Promise.all(counters.map((n) => deriveKey(p, salt, nonce, n)));
    for (let i = 0; i < batch; i++) {
      const hex = bytesToHex(keys[i]!);
      if (hex.startsWith(prefix)) {
        const payload = { challenge, solution: { counter: counters[i]!, derivedKey: hex } };
        return btoa(JSON.stringify(payload));
      }
    }
    progress?.(start + batch);
  }
  throw new Error('no solution found');
}

/** What the server needs from this address now; null when it cannot say (the request then tells). */
export async function botCheckStatus(): Promise<BotCheckStatus | null> {
  try {
    return await api.get<BotCheckStatus>('/api/auth/bot-check', { quiet401: true });
  } catch {
    return null;
  }
}

/** Fetches a challenge and solves it: the `botCheck` value for the next request. */
export async function proofOfWork(progress?: (tried: number) => void): Promise<string> {
  const c = await api.get<Challenge>('/api/auth/bot-check/challenge', { quiet401: true });
  return solveChallenge(c, progress);
}

const kindOf = (e: ApiError): string | undefined => (e.details as { kind?: string } | undefined)?.kind;

/**
 * Sends a sign-in or forgot-password request with the bot check it needs: solved first when the server
 * says one is required, and once more when the server refuses for want of one (the requirement can
 * start between the two, after failed sign-ins). `checking(true)` while the browser works.
 * Throws RecaptchaUnsupported when the server asks for reCAPTCHA.
 */
export async function withBotCheck<T>(send: (proof: string | undefined) => Promise<T>, checking: (on: boolean) => void): Promise<T> {
  const solve = async () => {
    checking(true);
    try {
      return await proofOfWork();
    } finally {
      checking(false);
    }
  };
  const status = await botCheckStatus();
  if (status?.required && status.kind === 'recaptcha') throw new RecaptchaUnsupported();
  let proof = status?.required && status.kind === 'pow' ? await solve() : undefined;
  try {
    return await send(proof);
  } catch (e) {
    if (!(e instanceof ApiError) || (e.code !== 'BOT_CHECK_REQUIRED' && e.code !== 'BOT_CHECK_FAILED')) throw e;
    if (kindOf(e) === 'recaptcha') throw new RecaptchaUnsupported();
    if (kindOf(e) !== 'pow') throw e;
    proof = await solve();
    return send(proof);
  }
}
