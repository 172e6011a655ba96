import { settingsFile } from './settings-file.js';
import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import type { OidcClient, OidcClientInput } from '../auth/oidc-provider/index.js';
import { toStdout } from './out.js';

export class OidcClientsUsage extends Error {}

const ctx = { actor: CLI_ACTOR };
const FIELDS: Readonly<Record<keyof OidcClientInput, 'string' | 'boolean' | 'string[]'>> = Object.freeze({
  name: 'string',
  redirectUris: 'string[]',
  confidential: 'boolean',
  scopes: 'string[]',
  consentRequired: 'boolean',
  enabled: 'boolean',
});

/** A client's settings from a JSON or YAML file: the admin API's body, its fields checked for their types here. */
function clientFile(file: string | undefined): OidcClientInput {
  if (!file)
    throw new OidcClientsUsage('give the client settings with --file FILE (JSON or YAML: name, redirectUris, confidential, scopes, consentRequired, enabled)');
  const value = settingsFile(file, OidcClientsUsage);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new OidcClientsUsage(`${file}: the settings are an object`);
  for (const [k, v] of Object.entries(value)) {
    const want = Object.hasOwn(FIELDS, k) ? FIELDS[k as keyof OidcClientInput] : undefined;
    if (!want) throw new OidcClientsUsage(`${file}: unknown field ${k}`);
    const ok = want === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === want;
    if (!ok) throw new OidcClientsUsage(`${file}: ${k} is ${want === 'string[]' ? 'a list of strings' : `a ${want}`}`);
  }
  return value as OidcClientInput;
}

const line = (c: OidcClient) =>
  `${c.clientId}  ${c.enabled ? 'enabled' : 'disabled'}  ${c.confidential ? 'confidential' : 'public'}  ${c.consentRequired ? 'consent' : 'no-consent'}  scopes ${c.scopes.join(',')}  ${c.name}  ${c.redirectUris.join(' ')}`;

/**
 * `palisade oidc-clients list|add|update|rotate-secret|remove|rotate-keys` (AUTH-13, Palisade as an OpenID
 * Provider). A confidential client's secret is printed once, at creation and rotation.
 */
export async function oidcClientsCommand(s: Services, sub: string, args: string[], opts: { file?: string }): Promise<number> {
  const [id] = args;
  const store = s.oidcProvider.clients;
  switch (sub) {
    case 'list': {
      const list = await store.list();
      toStdout(list.length === 0 ? 'no OIDC clients: the provider is off\n' : `issuer ${s.oidcProvider.issuer}\n`);
      for (const c of list) toStdout(`${line(c)}\n`);
      return 0;
    }
    case 'add': {
      const { client, secret } = await store.create(clientFile(opts.file), ctx);
      toStdout(`created OIDC client ${client.clientId}\nissuer ${s.oidcProvider.issuer}\n`);
      if (secret !== null) toStdout(`client secret (shown once): ${secret}\n`);
      return 0;
    }
    case 'update': {
      if (!id) throw new OidcClientsUsage('oidc-clients update needs a CLIENT_ID');
      toStdout(`${line(await store.update(id, clientFile(opts.file), ctx))}\n`);
      return 0;
    }
    case 'rotate-secret': {
      if (!id) throw new OidcClientsUsage('oidc-clients rotate-secret needs a CLIENT_ID');
      toStdout(`new client secret of ${id} (shown once): ${await store.rotateSecret(id, ctx)}\n`);
      return 0;
    }
    case 'remove': {
      if (!id) throw new OidcClientsUsage('oidc-clients remove needs a CLIENT_ID');
      const gone = await store.delete(id, ctx);
      toStdout(gone ? `removed OIDC client ${id}\n` : `no OIDC client ${id}\n`);
      return gone ? 0 : 1;
    }
    case 'rotate-keys': {
      const kids = await s.oidcProvider.rotateKeys(ctx);
      toStdout(`new signing keys ${kids.join(', ')}; the previous ones stay published until the next rotation\n`);
      return 0;
    }
    default:
      throw new OidcClientsUsage(`unknown command: oidc-clients ${sub}`);
  }
}
