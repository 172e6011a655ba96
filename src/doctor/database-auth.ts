import { postgresAuthKind } from '../config/client-certs.js';
import type { Env } from '../config/env.js';

/**
 * How Palisade signs in to PostgreSQL (ASVS V13.2.1, D437): a client certificate passes; a password (in the URL, its
 * `password` parameter or PGPASSWORD) warns, as an unchanging credential; neither passes, the server's pg_hba.conf
 * deciding (peer on a Unix socket, trust, or a ~/.pgpass file). Only the variables' names are ever reported.
 */
export function databaseAuthVerdict(urls: ReadonlyArray<readonly [string, string]>, env: Env): { status: 'pass' | 'warn'; detail: string; fix: string } {
  const kinds = urls.map(([name, url]) => [name, postgresAuthKind(url, env)] as const);
  const named = (k: string) => kinds.filter(([, kind]) => kind === k).map(([name]) => name);
  const password = named('password');
  if (password.length > 0)
    return {
      status: 'warn',
      detail: `${password.join(', ')}: signs in with a password, a credential that does not change by itself`,
      fix: 'Give the role a client certificate instead: sslcert and sslkey in the URL, a `hostssl ... cert` line in pg_hba.conf, no password (docs/connections.md#certificate-authentication).',
    };
  const certificate = named('certificate');
  const none = named('none');
  const parts = [
    ...(certificate.length > 0 ? [`${certificate.join(', ')}: a client certificate`] : []),
    ...(none.length > 0 ? [`${none.join(', ')}: no password or certificate (pg_hba.conf decides: peer, trust or ~/.pgpass)`] : []),
  ];
  return { status: 'pass', detail: parts.join('; '), fix: '' };
}
