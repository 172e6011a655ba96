/**
 * Signed download links (DATA-3, D252): a small token for a path segment, bound to a file and a user, good once
 * within LINK_SECONDS. It is not a bearer of rights: the records layer re-checks the user's grants when it is used.
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { safeEqual } from '../util/safe-equal.js';
import { AppError } from '../errors.js';

/** A signed link's lifetime. */
export const LINK_SECONDS = 60;

/** What a link was asked with, re-checked when it is used: it lives no longer than that credential (D280). */
export type LinkCredential = { kind: 'session'; id: string } | { kind: 'apikey'; id: string } | { kind: 'basic' };

export interface LinkClaims {
  fileId: string;
  userId: string;
  /** The active role the link was asked under (an API key's role), null: every role held. */
  role: string | null;
  asKey: boolean;
  credential: LinkCredential;
}

const KINDS = ['basic', 'session', 'apikey'] as const;
/** The fixed part of a token: version, file, user, expiry, nonce, flags, credential kind and id. */
const HEAD = 1 + 16 + 16 + 4 + 9 + 1 + 1 + 16;

const b64 = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class FileLinks {
  private readonly key: Buffer;

  constructor(
    appKey: string,
    private readonly now: () => number,
    /** Single-use marks of spent links (shared state: every instance sees them). */
    private readonly spent: { setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> },
  ) {
    this.key = Buffer.from(hkdfSync('sha256', appKey, 'file-link', 'palisade/file-link/v1', 32));
  }

  /**
   * A signed link's token (D252): the file id, the user id, the role the link was asked under (and whether by an
   * API key), an expiry and a nonce, packed small enough for a path segment, with an HMAC under a key derived from
   * APP_KEY. It is not a bearer of rights: redeeming it re-checks the user's grants.
   */
  sign(claims: LinkClaims): { token: string; expiresAt: string } {
    const exp = Math.floor(this.now() / 1000) + LINK_SECONDS;
    const role = Buffer.from(claims.role ?? '', 'utf8');
    if (role.length > 64) throw new TypeError('FileService.sign: role name too long');
    const head = Buffer.alloc(HEAD);
    head[0] = 2;
    uuidBytes(claims.fileId).copy(head, 1);
    uuidBytes(claims.userId).copy(head, 17);
    head.writeUInt32BE(exp, 33);
    randomBytes(9).copy(head, 37);
    head[46] = (claims.asKey ? 1 : 0) | (claims.role === null ? 0 : 2);
    const c = claims.credential;
    head[47] = KINDS.indexOf(c.kind);
    if (c.kind === 'session') credentialBytes(Buffer.from(c.id, 'base64url')).copy(head, 48);
    else if (c.kind === 'apikey') uuidBytes(c.id).copy(head, 48);
    const body = b64(Buffer.concat([head, role]));
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(exp * 1000).toISOString() };
  }

  private mac(body: string): string {
    return b64(createHmac('sha256', this.key).update(`file-link.${body}`).digest().subarray(0, 16));
  }

  /** The claims of a valid, unexpired, unspent token, which is spent by this; anything else is FILE_LINK_INVALID. */
  async redeem(token: string): Promise<LinkClaims> {
    const invalid = (why: string) => new AppError('FILE_LINK_INVALID', undefined, why);
    const m = /^([A-Za-z0-9_-]{86,180})\.([A-Za-z0-9_-]{22})$/.exec(token);
    if (!m) throw invalid('malformed');
    const want = Buffer.from(this.mac(m[1]!), 'base64url');
    const got = Buffer.from(m[2]!, 'base64url');
    if (!safeEqual(got, want)) throw invalid('bad signature');
    const bytes = Buffer.from(m[1]!, 'base64url');
    if (bytes.length < HEAD || bytes[0] !== 2 || bytes[47]! >= KINDS.length) throw invalid('malformed claims');
    const exp = bytes.readUInt32BE(33);
    if (exp * 1000 <= this.now()) throw invalid('expired');
    const nonce = bytes.subarray(37, 46).toString('base64url');
    // Kept until well past the link's own end, counted from it: another instance's clock a little behind cannot reuse it.
    if (!(await this.spent.setIfAbsent(`files:link:${nonce}`, '1', exp * 1000 - this.now() + 120_000))) throw invalid('spent');
    const flags = bytes[46]!;
    const kind = KINDS[bytes[47]!]!;
    const id = bytes.subarray(48, HEAD);
    return {
      fileId: uuidOf(bytes.subarray(1, 17)),
      userId: uuidOf(bytes.subarray(17, 33)),
      role: flags & 2 ? bytes.subarray(HEAD).toString('utf8') : null,
      asKey: (flags & 1) === 1,
      credential: kind === 'basic' ? { kind } : { kind, id: kind === 'session' ? id.toString('base64url') : uuidOf(id) },
    };
  }
}

function uuidBytes(id: string): Buffer {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id)) throw new TypeError('FileService.sign: not a UUID');
  return Buffer.from(id.replaceAll('-', ''), 'hex');
}

/** A session id: 16 random bytes (base64url, src/auth/session/types.ts newId). */
function credentialBytes(b: Buffer): Buffer {
  if (b.length !== 16) throw new TypeError('FileService.sign: not a session id');
  return b;
}

function uuidOf(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
