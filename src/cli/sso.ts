import { settingsFile } from './settings-file.js';
import type { Services } from '../services.js';
import { CLI_ACTOR } from '../audit/events.js';
import { checkProviderFile } from '../auth/sso/schema.js';
import { providerKind, type Provider, type ProviderInput } from '../auth/sso/index.js';
import { readValue } from './secrets.js';
import { toStdout } from './out.js';

export class SsoUsage extends Error {}

const ctx = { actor: CLI_ACTOR };

function providerFile(file: string | undefined, create: boolean): ProviderInput {
  if (!file) throw new SsoUsage('give the provider settings with --file FILE (JSON or YAML)');
  const value = settingsFile(file, SsoUsage);
  checkProviderFile(value, create);
  return value as ProviderInput;
}

/** A provider's settings, its secret and the address to register (or, LDAP, to sign in at), on one line. */
function providerLine(p: Provider, secretSet: boolean, publicUrl: string): string {
  const at = `${publicUrl}/api/auth/sso/${p.slug}`;
  const settings = providerKind(p.type).line(p.settings as never);
  if (p.type === 'ldap') {
    return `${settings}  service password ${p.settings.bindMode === 'search' ? (secretSet ? 'set' : 'not set') : 'unused'}  sign-in ${at}/login`;
  }
  if (p.type === 'cas') return `${settings}  callback ${at}/callback`;
  if (p.type === 'saml') return `${settings}  sp key ${secretSet ? 'set' : 'not set'}  metadata ${at}/saml/metadata  acs ${at}/acs`;
  return `${settings}  secret ${secretSet ? 'set' : 'not set'}  callback ${at}/callback  back-channel logout ${at}/backchannel-logout`;
}

/**
 * `palisade sso list|add|update|set-secret|remove|link|unlink` (AUTH-13). Settings come from a file; the
 * client secret only from standard input or a silent prompt, never the command line or the file.
 */
export async function ssoCommand(s: Services, sub: string, args: string[], opts: { file?: string; username?: string }): Promise<number> {
  const [slug, subject] = args;
  switch (sub) {
    case 'list': {
      const list = await s.sso.providers.list();
      if (list.length === 0) toStdout('no identity providers\n');
      for (const p of list) {
        const v = await s.sso.providers.view(p);
        toStdout(
          `${p.slug}  ${p.type}  ${p.enabled ? 'enabled' : 'disabled'}  ${p.provisioning}  ${providerLine(p, v.clientSecretSet, s.config.mail.publicUrl)}\n`,
        );
      }
      return 0;
    }
    case 'add': {
      if (!slug) throw new SsoUsage('sso add needs a SLUG');
      const input = providerFile(opts.file, true);
      await s.sso.providers.create(slug, input, ctx);
      toStdout(`created identity provider ${slug}; set its client secret with: palisade sso set-secret ${slug} < FILE\n`);
      return 0;
    }
    case 'update': {
      if (!slug) throw new SsoUsage('sso update needs a SLUG');
      await s.sso.providers.update(slug, providerFile(opts.file, false), ctx);
      toStdout(`updated identity provider ${slug}\n`);
      return 0;
    }
    case 'set-secret': {
      if (!slug) throw new SsoUsage('sso set-secret needs a SLUG; the secret is read from standard input');
      const p = await s.sso.providers.get(slug);
      if (!p) throw new SsoUsage(`no identity provider ${slug}`);
      const kind = providerKind(p.type);
      if (kind.secretField === null) throw new SsoUsage(`a ${p.type} provider has no secret`);
      const what = kind.secretLabel;
      const value = await readValue(`${what} of ${slug}`);
      await s.sso.providers.update(slug, { [p.type]: { [kind.secretField]: value } }, ctx);
      toStdout(`stored ${what} of ${slug} in the secret store\n`);
      return 0;
    }
    case 'remove': {
      if (!slug) throw new SsoUsage('sso remove needs a SLUG');
      const gone = await s.sso.providers.delete(slug, ctx);
      toStdout(gone ? `removed identity provider ${slug} and its links\n` : `no identity provider ${slug}\n`);
      return gone ? 0 : 1;
    }
    case 'link':
    case 'unlink': {
      if (!slug || !subject || !opts.username) throw new SsoUsage(`sso ${sub} needs a SLUG, a SUBJECT and --username U`);
      const user = await s.users.findByName(opts.username);
      if (!user) throw new SsoUsage(`no user ${opts.username}`);
      if (sub === 'link') {
        await s.sso.adminLink(user.id, slug, subject, ctx);
        toStdout(`linked ${slug} subject ${subject} to ${user.username}\n`);
        return 0;
      }
      const gone = await s.sso.unlink(user.id, slug, subject, 'admin', ctx);
      toStdout(gone ? `unlinked ${slug} subject ${subject} from ${user.username}\n` : 'no such link\n');
      return gone ? 0 : 1;
    }
    default:
      throw new SsoUsage(`unknown command: sso ${sub}`);
  }
}
