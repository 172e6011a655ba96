import type { Client, Entry } from 'ldapts';
import { SizeLimitExceededError } from 'ldapts';
import { AppError } from '../../../errors.js';
import type { DirectoryProtocol, LdapProvider, LdapSettings, ProvenIdentity } from '../types.js';
import { close, connect, describe, isResultCode, unavailable } from './connect.js';
import { bindDnOf, firstRdnValue, groupFilter, userFilter } from './escape.js';
import { providerEmail } from '../accounts.js';

export { urlProblem } from './connect.js';
export { escapeDnValue } from './escape.js';

/** A refused username or password; `reason` goes to the failure event, the caller sees INVALID_CREDENTIALS. */
export class DirectoryRefusal extends AppError {
  constructor(readonly reason: 'empty_password' | 'bad_username' | 'unknown_user' | 'ambiguous_user' | 'bad_credentials') {
    super('INVALID_CREDENTIALS', undefined, reason);
  }
}

/** Control characters in a username are refused before anything reaches the directory. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
const CONTROL = /[\u0000-\u001f\u007f]/;

const first = (v: Entry[string] | undefined): string | null => {
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined) return null;
  return Buffer.isBuffer(x) ? x.toString('hex') : x;
};
const all = (v: Entry[string] | undefined): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x));

/**
 * LDAP (ldapts): bind as the user, directly (a DN template) or after a service account found their
 * entry; read the entry's attributes and groups; a proven identity for the accounts and the mapping.
 * Every value typed by the user goes into a DN escaped (RFC 4514) and into a filter as a filter object
 * (RFC 4515), and an empty password never reaches the server (a simple bind with one is anonymous).
 */
export class LdapProtocol implements DirectoryProtocol {
  constructor(private readonly resolveSecret: (name: string) => Promise<string | null>) {}

  async verify(p: LdapProvider, username: string, password: string): Promise<ProvenIdentity> {
    if (password.length === 0) throw new DirectoryRefusal('empty_password');
    if (username.length === 0 || username.length > 256 || CONTROL.test(username)) throw new DirectoryRefusal('bad_username');
    const s = p.settings;
    // One deadline over the whole exchange (the TLS handshake of StartTLS has no timeout of its own).
    const deadline = s.connectTimeoutMs + 4 * s.operationTimeoutMs;
    let client: Client | null = null;
    let over = false;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(`no answer within ${deadline} ms`)), deadline);
    });
    try {
      return await Promise.race([
        (async () => {
          const c = await this.connectOrFail(s);
          client = c;
          // Answered already (the deadline passed while connecting): nothing more is sent, least of all a password.
          if (over) throw unavailable('connected after the deadline');
          return await this.exchange(c, s, username, password);
        })(),
        expired,
      ]);
    } finally {
      over = true;
      clearTimeout(timer);
      if (client) void close(client);
    }
  }

  private async connectOrFail(s: LdapSettings): Promise<Client> {
    try {
      return await connect(s);
    } catch (e) {
      throw e instanceof AppError ? e : unavailable(`connect: ${describe(e)}`);
    }
  }

  private async exchange(client: Client, s: LdapSettings, username: string, password: string): Promise<ProvenIdentity> {
    const attributes = [...new Set([s.usernameAttribute, s.emailAttribute, s.displayNameAttribute, s.memberOfAttribute, s.subjectAttribute])].filter(
      (a) => a !== 'dn',
    );
    // A binary identity (Active Directory's objectGUID) is read as bytes, kept as hex.
    const explicitBufferAttributes = s.subjectAttribute.toLowerCase() === 'objectguid' ? [s.subjectAttribute] : [];
    let entry: Entry;
    let groups: { names: string[]; dns: string[] };
    if (s.bindMode === 'direct') {
      const dn = bindDnOf(s.bindDnTemplate ?? '', username);
      await this.bindUser(client, dn, password);
      entry = await this.op('read entry', async () => {
        const r = await client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes, explicitBufferAttributes, sizeLimit: 1 });
        const e = r.searchEntries[0];
        if (!e) throw unavailable('read entry: the bound entry is not readable');
        return e;
      });
      groups = await this.groups(client, s, entry, username);
    } else {
      const secret = s.servicePasswordName ? await this.resolveSecret(s.servicePasswordName) : null;
      if (!s.serviceDn || !secret) throw unavailable('the service account or its password is not set');
      await this.op('service bind', () => client.bind(s.serviceDn!, secret));
      const found = await this.op('find user', async () => {
        try {
          const r = await client.search(s.baseDn, {
            scope: 'sub',
            filter: userFilter(s.userObjectClass, s.userAttribute, username),
            attributes,
            explicitBufferAttributes,
            sizeLimit: 2,
          });
          return r.searchEntries;
        } catch (e) {
          if (e instanceof SizeLimitExceededError) throw new DirectoryRefusal('ambiguous_user');
          throw e;
        }
      });
      if (found.length === 0) throw new DirectoryRefusal('unknown_user');
      if (found.length > 1) throw new DirectoryRefusal('ambiguous_user');
      entry = found[0]!;
      // Groups are read as the service account (a user may not read them), then the user's password is checked.
      groups = await this.groups(client, s, entry, username);
      await this.bindUser(client, entry.dn, password);
    }
    const subject = s.subjectAttribute === 'dn' ? entry.dn.toLowerCase() : first(entry[s.subjectAttribute]);
    if (!subject) throw unavailable(`the entry has no ${s.subjectAttribute}`);
    const { email, canonical } = providerEmail(first(entry[s.emailAttribute]));
    const claims: Record<string, unknown> = {
      dn: entry.dn,
      username: first(entry[s.usernameAttribute]) ?? username,
      email,
      name: first(entry[s.displayNameAttribute]),
      groups: groups.names,
      groupDns: groups.dns,
    };
    return {
      // The issuer a link keeps (D291): an entryUUID is unique in every directory, so the link survives a change of
      // server address (a replica, a new port); a DN is unique only in its directory, so it is tied to the URL.
      issuer: s.subjectAttribute === 'dn' ? s.url : 'ldap',
      subject: subject.slice(0, 255),
      email,
      emailVerified: s.emailVerified && canonical,
      // A directory keeps no session of its own.
      providerSession: null,
      username: claims.username as string,
      claims,
      // A simple bind proves a password only.
      mfa: false,
    };
  }

  /** The user's bind: a result code (wrong password, no such entry, bad DN) is a refusal; a network fault is not. */
  private async bindUser(client: Client, dn: string, password: string): Promise<void> {
    try {
      await client.bind(dn, password);
    } catch (e) {
      if (isResultCode(e)) throw new DirectoryRefusal('bad_credentials');
      throw unavailable(`bind: ${describe(e)}`);
    }
  }

  /** An operation of Palisade's own (service bind, searches): any failure is the provider's (503), never the user's. */
  private async op<T>(what: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof AppError) throw e;
      throw unavailable(`${what}: ${describe(e)}`);
    }
  }

  private async groups(client: Client, s: LdapSettings, entry: Entry, username: string): Promise<{ names: string[]; dns: string[] }> {
    if (s.groupMode === 'none') return { names: [], dns: [] };
    if (s.groupMode === 'memberOf') {
      const dns = all(entry[s.memberOfAttribute]);
      return { dns, names: dns.map(firstRdnValue).filter((x): x is string => x !== null) };
    }
    const member = s.groupMemberValue === 'dn' ? entry.dn : (first(entry[s.usernameAttribute]) ?? username);
    const r = await this.op('find groups', () =>
      client.search(s.groupBaseDn ?? s.baseDn, {
        scope: 'sub',
        filter: groupFilter(s.groupObjectClass, s.groupMemberAttribute, member),
        attributes: [s.groupNameAttribute],
        sizeLimit: 1000,
      }),
    );
    const dns = r.searchEntries.map((e) => e.dn);
    const names = r.searchEntries.flatMap((e) => all(e[s.groupNameAttribute]));
    return { names: [...new Set(names)].sort(), dns };
  }
}
