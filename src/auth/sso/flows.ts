import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { SsoFlowsTable } from '../../db/types.js';
import type { FlowSecrets } from './types.js';

/** How long a started sign-in may take at the provider. */
export const FLOW_VALIDITY_MS = 10 * 60_000;

const sha256 = (s: string): string => createHash('sha256').update(s, 'utf8').digest('hex');

export type FlowPurpose = 'signin' | 'link';

/** Why a callback's flow cannot be used. */
export type FlowProblem = 'state_missing' | 'state_unknown' | 'provider_mismatch' | 'browser_mismatch' | 'state_replayed' | 'state_expired';

/**
 * The flows in progress, kept server-side (`sso_flows`): the state only as its hash, the nonce and the
 * PKCE verifier, and the hash of a random value the browser holds in an HttpOnly cookie. A callback
 * must bring the state and that cookie; the row is spent once, before the code is exchanged.
 */
export async function keepFlow(
  db: Db,
  f: { provider: string; purpose: FlowPurpose; userId: string | null; sessionId?: string | null; returnTo: string; kept: FlowSecrets },
  now: number,
): Promise<{ binding: string }> {
  const binding = randomBytes(32).toString('base64url');
  await db
    .deleteFrom('sso_flows')
    .where('expires_at', '<', now - 3600_000)
    .execute();
  await db
    .insertInto('sso_flows')
    .values({
      id: sha256(f.kept.state),
      provider: f.provider,
      purpose: f.purpose,
      user_id: f.userId,
      session_id: f.sessionId ?? null,
      binding_hash: sha256(binding),
      nonce: f.kept.nonce,
      code_verifier: f.kept.codeVerifier,
      return_to: f.returnTo,
      created_at: now,
      expires_at: now + FLOW_VALIDITY_MS,
      used_at: null,
    })
    .execute();
  return { binding };
}

/** Finds and spends the callback's flow; `problem` says why it cannot be used (then nothing is spent but a replay's row). */
export async function spendFlow(
  db: Db,
  provider: string,
  state: string | null,
  binding: string | undefined,
  now: number,
): Promise<{ flow: SsoFlowsTable; problem: null } | { flow?: SsoFlowsTable; problem: FlowProblem }> {
  if (!state || state.length > 512) return { problem: 'state_missing' };
  const flow = await db.selectFrom('sso_flows').selectAll().where('id', '=', sha256(state)).executeTakeFirst();
  if (!flow) return { problem: 'state_unknown' };
  if (flow.provider !== provider) return { flow, problem: 'provider_mismatch' };
  if (flow.used_at !== null) return { flow, problem: 'state_replayed' };
  const presented = Buffer.from(sha256(binding ?? ''), 'hex');
  if (!binding || !timingSafeEqual(presented, Buffer.from(flow.binding_hash, 'hex'))) return { flow, problem: 'browser_mismatch' };
  if (Number(flow.expires_at) <= now) return { flow, problem: 'state_expired' };
  const r = await db.updateTable('sso_flows').set({ used_at: now }).where('id', '=', flow.id).where('used_at', 'is', null).executeTakeFirst();
  if (Number(r.numUpdatedRows) !== 1) return { flow, problem: 'state_replayed' };
  return { flow, problem: null };
}

/**
 * A same-origin relative path to return to after a sign-in, or the fallback: one leading `/`, never
 * `//` or `/\` (protocol-relative), no scheme, no control characters, no backslash.
 */
export function safeReturnPath(raw: string | undefined, fallback: string): string {
  if (raw === undefined || raw.length === 0 || raw.length > 512) return fallback;
  if (!raw.startsWith('/') || raw.startsWith('//') || raw.includes('\\')) return fallback;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
  if (/[\u0000-\u001f\u007f]/.test(raw)) return fallback;
  try {
    const u = new URL(raw, 'http://palisade.invalid');
    if (u.origin !== 'http://palisade.invalid') return fallback;
    const out = u.pathname + u.search + u.hash;
    // Dot segments resolved away can leave `//host` (`/.//evil`, `/a/..//evil`): checked again after resolving.
    if (out.startsWith('//') || out.startsWith('/\\')) return fallback;
    return out;
  } catch {
    return fallback;
  }
}
