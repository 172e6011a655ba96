import { createHmac } from 'node:crypto';
import { safeEqual } from '../../util/safe-equal.js';
import { deriveKey } from '../keys.js';

/** XSRF tokens of cookie sessions: the HMAC of the session id under a key derived from APP_KEY. */
export class XsrfTokens {
  private readonly key: Uint8Array;

  constructor(appKey: string) {
    this.key = deriveKey(appKey, 'xsrf', 'palisade/xsrf/v1');
  }

  token(sessionId: string): string {
    return createHmac('sha256', this.key).update(sessionId).digest('base64url');
  }

  check(sessionId: string, presented: string | undefined): boolean {
    if (typeof presented !== 'string' || presented.length > 128) return false;
    return safeEqual(presented, this.token(sessionId));
  }
}
