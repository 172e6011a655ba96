/**
 * age's passphrase recipient and identity (the `scrypt` stanza of age v1), with the key derived by Node's own
 * asynchronous scrypt on the thread pool instead of age-encryption's synchronous one: deriving a backup's key takes
 * about a second at age's work factor, and must not stop the server answering meanwhile. The stanza is age's
 * exactly (label, 16-byte salt, log2 N, r = 8, p = 1, ChaCha20-Poly1305 of the file key under a zero nonce), so the
 * archives open with any age tool, and the refusals are age's: not the only stanza, malformed, or a work factor
 * above what decryption accepts.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import type { Identity, Recipient, Stanza } from 'age-encryption';

const LABEL = Buffer.from('age-encryption.org/v1/scrypt', 'ascii');
/** age's default work factor for encryption, and the highest it accepts when decrypting. */
export const SCRYPT_LOG_N = 18;
const MAX_LOG_N = 20;

const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');

function deriveKey(passphrase: string, salt: Buffer, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) =>
    // maxmem: scrypt takes 128 * N * r bytes (256 MiB at log2 N = 18); Node's default allows 32 MiB.
    scrypt(passphrase, Buffer.concat([LABEL, salt]), 32, { N, r: 8, p: 1, maxmem: 129 * N * 8 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

export class PassphraseRecipient implements Recipient {
  constructor(
    private readonly passphrase: string,
    private readonly logN = SCRYPT_LOG_N,
  ) {}

  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    const salt = randomBytes(16);
    const key = await deriveKey(this.passphrase, salt, this.logN);
    const c = createCipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
    const body = Buffer.concat([c.update(fileKey), c.final(), c.getAuthTag()]);
    const { Stanza } = await import('age-encryption');
    return [new Stanza(['scrypt', b64(salt), String(this.logN)], new Uint8Array(body))];
  }
}

export class PassphraseIdentity implements Identity {
  constructor(private readonly passphrase: string) {}

  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    for (const s of stanzas) {
      if (s.args[0] !== 'scrypt') continue;
      if (stanzas.length !== 1) throw new Error('scrypt recipient is not the only one in the header');
      const [, saltText, logText] = s.args;
      if (s.args.length !== 3 || !/^[1-9][0-9]*$/.test(logText ?? '') || !/^[A-Za-z0-9+/]+$/.test(saltText ?? '')) throw new Error('invalid scrypt stanza');
      const salt = Buffer.from(saltText!, 'base64');
      // Canonical unpadded base64 of exactly 16 bytes, as age requires.
      if (salt.length !== 16 || b64(salt) !== saltText) throw new Error('invalid scrypt stanza');
      const logN = Number(logText);
      if (logN > MAX_LOG_N) throw new Error('scrypt work factor is too high');
      if (s.body.length !== 32) throw new Error('invalid stanza');
      const key = await deriveKey(this.passphrase, salt, logN);
      const d = createDecipheriv('chacha20-poly1305', key, Buffer.alloc(12), { authTagLength: 16 });
      d.setAuthTag(Buffer.from(s.body.subarray(16)));
      try {
        return new Uint8Array(Buffer.concat([d.update(s.body.subarray(0, 16)), d.final()]));
      } catch {
        return null;
      }
    }
    return null;
  }
}
