import { hash as argon2Hash, verify as argon2Verify, Algorithm } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { scrypt as scryptCb, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { AppError } from '../errors.js';

const scrypt = promisify(scryptCb) as (pw: string | Buffer, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

/** OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1. */
export const ARGON2_PARAMS = Object.freeze({ algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 });

/**
 * Upper bound on what we hash at all: hashing cost must not be attacker-controlled. Route schemas
 * refuse longer strings, and the password policy (./password-policy) never allows more.
 */
export { HARD_MAX_LENGTH as MAX_PASSWORD_LENGTH } from './password-policy/schema.js';

/**
 * Runs hashing in a bounded queue: at most `concurrency` at once and `queueMax` waiting,
 * so a flood of sign-ins answers SERVER_BUSY instead of starving every other request.
 */
export class HashQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(
    private readonly concurrency: number,
    private readonly queueMax: number,
  ) {}

  /** Hashes running and waiting now (metrics). */
  depth(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queueMax) throw new AppError('SERVER_BUSY', undefined, 'hash queue full');
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}

export type HashKind = 'argon2id' | 'bcrypt' | 'scrypt' | 'unknown';

export function hashKind(stored: string): HashKind {
  if (stored.startsWith('$argon2id$')) return 'argon2id';
  if (/^\$2[aby]\$\d\d\$/.test(stored)) return 'bcrypt';
  if (stored.startsWith('$scrypt$')) return 'scrypt';
  return 'unknown';
}

/**
 * A hash that imports may carry: argon2id, bcrypt, or `$scrypt$ln=14,r=8,p=1$<salt b64>$<hash b64>`, each with a cost
 * that a sign-in can pay: the parameters in a stored hash decide what verifying it costs, so one out of bounds would let
 * whoever set it (an import, a restored row) make every sign-in to that account take the server's memory or CPU (D466).
 */
export function isImportableHash(stored: string): boolean {
  if (stored.length > 512) return false;
  const kind = hashKind(stored);
  if (kind === 'scrypt') return parseScrypt(stored) !== null;
  if (kind === 'bcrypt') return bcryptCost(stored) !== null;
  return kind === 'argon2id' && argon2Bounded(stored);
}

/** The most a verification may cost: argon2id memory (KiB) and memory times passes, bcrypt's cost, scrypt's memory. */
const ARGON2_MAX_MEMORY_KIB = 262_144;
const ARGON2_MAX_WORK = 1_048_576;
const BCRYPT_MAX_COST = 12;
const SCRYPT_MAX_BYTES = 256 * 1024 * 1024;

/** A bcrypt hash's cost (4 to BCRYPT_MAX_COST), or null when it is malformed or dearer. */
function bcryptCost(stored: string): number | null {
  const m = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/.exec(stored);
  const cost = m ? Number(m[1]) : Number.NaN;
  return cost >= 4 && cost <= BCRYPT_MAX_COST ? cost : null;
}

/** Whether an argon2id hash is well-formed and its memory, passes and lanes are within what a sign-in may cost. */
function argon2Bounded(stored: string): boolean {
  const m = /^\$argon2id\$v=19\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,10})\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,128}$/.exec(stored);
  if (!m) return false;
  const [mem, t, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return p >= 1 && p <= 16 && t >= 1 && mem >= 8 * p && mem <= ARGON2_MAX_MEMORY_KIB && mem * t <= ARGON2_MAX_WORK;
}

function parseScrypt(stored: string): { N: number; r: number; p: number; salt: Buffer; hash: Buffer } | null {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/=._-]+)\$([A-Za-z0-9+/=._-]+)$/.exec(stored);
  if (!m) return null;
  const ln = Number(m[1]);
  const r = Number(m[2]);
  const p = Number(m[3]);
  if (ln < 10 || ln > 20 || r < 1 || r > 32 || p < 1 || p > 16) return null;
  if (128 * 2 ** ln * r > SCRYPT_MAX_BYTES || 2 ** ln * r * p > 2 ** 22) return null;
  const salt = Buffer.from(m[4]!, 'base64');
  const hash = Buffer.from(m[5]!, 'base64');
  if (salt.length < 8 || hash.length < 16 || hash.length > 128) return null;
  return { N: 2 ** ln, r, p, salt, hash };
}

export class PasswordHasher {
  private dummy: string | null = null;
  constructor(private readonly queue: HashQueue) {}

  /** The hash queue now: hashes running and waiting (metrics). */
  queueDepth(): { running: number; waiting: number } {
    return this.queue.depth();
  }

  hash(password: string): Promise<string> {
    return this.queue.run(() => argon2Hash(password, ARGON2_PARAMS));
  }

  /** Verifies against any supported stored hash; `null` (no such user) verifies a dummy hash. */
  async verify(stored: string | null, password: string): Promise<boolean> {
    if (stored === null) {
      if (!this.dummy) this.dummy = await this.hash(randomBytes(16).toString('hex'));
      await this.verifyKnown(this.dummy, password);
      return false;
    }
    return this.verifyKnown(stored, password);
  }

  /** True when the stored hash should be replaced by a fresh argon2id hash after a good login. */
  needsRehash(stored: string): boolean {
    if (hashKind(stored) !== 'argon2id') return true;
    const m = /\$m=(\d+),t=(\d+),p=(\d+)\$/.exec(stored);
    return !m || Number(m[1]) < ARGON2_PARAMS.memoryCost || Number(m[2]) < ARGON2_PARAMS.timeCost;
  }

  /** Moving average of how long a verification takes, ms (argon2id dominates). */
  private verifyMs = 50;

  /**
   * Waits about as long as a verification, with jitter, without using the CPU: answers refused
   * before hashing (locked accounts) must not be faster than the others, or they enumerate accounts.
   */
  async imitateVerify(): Promise<void> {
    const ms = this.verifyMs * (0.85 + Math.random() * 0.3);
    await new Promise((r) => setTimeout(r, ms));
  }

  private async verifyKnown(stored: string, password: string): Promise<boolean> {
    const t0 = performance.now();
    const ok = await this.verifyTimed(stored, password);
    this.verifyMs = this.verifyMs * 0.9 + (performance.now() - t0) * 0.1;
    return ok;
  }

  private verifyTimed(stored: string, password: string): Promise<boolean> {
    return this.queue.run(async () => {
      // A stored hash dearer than an import may carry (a row restored or written by hand) verifies nothing.
      switch (hashKind(stored)) {
        case 'argon2id':
          if (!argon2Bounded(stored)) return false;
          return argon2Verify(stored, password).catch(() => false);
        case 'bcrypt':
          // bcrypt reads at most 72 bytes; longer inputs would verify on a prefix, so refuse them.
          if (Buffer.byteLength(password) > 72 || bcryptCost(stored) === null) return false;
          return bcrypt.compare(password, stored);
        case 'scrypt': {
          const s = parseScrypt(stored);
          if (!s) return false;
          const got = await scrypt(password, s.salt, s.hash.length, { N: s.N, r: s.r, p: s.p, maxmem: 256 * s.N * s.r + 1024 * 1024 });
          return timingSafeEqual(got, s.hash);
        }
        default:
          return false;
      }
    });
  }
}
