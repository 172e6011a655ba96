/**
 * Signed checkpoints of the audit chain (AUDIT-6): the chain hash at an entry, signed with an Ed25519
 * key derived from APP_KEY. Exported to a file or a remote sink, they let an auditor prove that
 * history was not rewritten by someone who can write to the database but does not hold APP_KEY
 * (and that a database restored to an older state lost entries). The public key is published so that
 * a checkpoint can be checked without Palisade.
 */
import { createPrivateKey, createPublicKey, hkdfSync, sign, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { Checkpoint } from './verify.js';

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

export interface CheckpointSigner {
  /** The public key (SPKI PEM) that checks every checkpoint this deployment signs. */
  publicKeyPem: string;
  sign(seq: number, hash: string, at: number): string;
  check(c: Checkpoint): boolean;
}

/** The text a checkpoint signature covers. */
export const checkpointPayload = (seq: number, hash: string, at: number): Buffer => Buffer.from(`palisade-audit-checkpoint:v1:${seq}:${hash}:${at}`);

export function createCheckpointSigner(appKey: string): CheckpointSigner {
  const seed = Buffer.from(hkdfSync('sha256', appKey, 'audit', 'palisade/audit-checkpoint/v1', 32));
  const priv: KeyObject = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
  const pub = createPublicKey(priv);
  return {
    publicKeyPem: pub.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (seq, hash, at) => sign(null, checkpointPayload(seq, hash, at), priv).toString('base64url'),
    check: (c) => {
      try {
        return verifySignature(null, checkpointPayload(Number(c.seq), c.hash, Number(c.at)), pub, Buffer.from(c.signature, 'base64url'));
      } catch {
        return false;
      }
    },
  };
}
