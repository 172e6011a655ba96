import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import { parseDuration } from '../config/durations.js';
import { toStdout, toStderr } from './out.js';

export interface ApiKeyArgs {
  username?: string;
  name?: string;
  role?: string;
  'expires-in'?: string;
  'read-only'?: boolean;
  ip?: string;
  id?: string;
}

export class ApiKeyUsage extends Error {}

const iso = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString());

/**
 * `palisade apikey create|list|revoke` (AUTH-11), for operators. The operator may create a key for any
 * user, bound to a role that user holds (a key acts only while its owner holds its role); the secret is
 * printed once.
 */
export async function apiKeyCommand(s: Services, sub: string, a: ApiKeyArgs): Promise<number> {
  switch (sub) {
    case 'create': {
      if (!a.username || !a.name || !a.role) throw new ApiKeyUsage('apikey create needs --username, --name and --role');
      const owner = await s.users.findByName(a.username);
      if (!owner) throw new ApiKeyUsage(`no such user: ${a.username}`);
      let expiresIn: number | null | undefined;
      if (a['expires-in'] === 'never') expiresIn = null;
      else if (a['expires-in'] !== undefined) {
        const d = parseDuration(a['expires-in']);
        if (d === null) throw new ApiKeyUsage('--expires-in: a duration such as 30d, or never');
        expiresIn = d;
      }
      const held = (await s.access.principal(owner, null)).held;
      const { key, secret } = await s.apiKeys.create(
        owner.id,
        {
          name: a.name,
          role: a.role,
          ...(expiresIn !== undefined ? { expiresIn } : {}),
          readOnly: a['read-only'] ?? false,
          ...(a.ip ? { ipAllow: a.ip.split(',').map((x) => x.trim()) } : {}),
        },
        { ctx: { actor: CLI_ACTOR }, userId: owner.id, held, manager: true },
      );
      toStdout(`created API key ${key.id} "${key.name}" for ${owner.username}, role ${key.role}, expires ${iso(key.expiresAt)}\n`);
      toStdout(`the key, shown once: ${secret}\n`);
      return 0;
    }
    case 'list': {
      const owner = a.username ? await s.users.findByName(a.username) : null;
      if (a.username && !owner) throw new ApiKeyUsage(`no such user: ${a.username}`);
      for (const k of await s.apiKeys.list(owner?.id ?? null, 500)) {
        const state = k.revokedAt !== null ? 'revoked' : k.expiresAt !== null && k.expiresAt <= s.now() ? 'expired' : 'live';
        toStdout(
          `${k.id}  ${state.padEnd(7)}  …${k.hint}  ${k.name}  user ${k.userId}  role ${k.role}${k.readOnly ? ' (read-only)' : ''}  expires ${iso(k.expiresAt)}  last used ${iso(k.lastUsedAt)}\n`,
        );
      }
      for (const k of await s.apiKeys.neverExpiring()) toStderr(`palisade: warning: API key ${k.id} "${k.name}" never expires\n`);
      return 0;
    }
    case 'revoke': {
      if (!a.id) throw new ApiKeyUsage('apikey revoke needs --id');
      await s.apiKeys.revoke(a.id, null, { actor: CLI_ACTOR });
      toStdout(`revoked API key ${a.id}\n`);
      return 0;
    }
    default:
      throw new ApiKeyUsage(`unknown command: apikey ${sub}`);
  }
}
