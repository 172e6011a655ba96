// Certificates for tests that need TLS with client certificates: a private directory, CAs and the certificates they
// sign, made by the openssl command line (P-256 keys, two days).
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const CLIENT_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n';
export const SERVER_EXT = 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n';
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export interface CertDir {
  readonly dir: string;
  /** The path of `name` in the directory. */
  file(name: string): string;
  readPem(name: string): string;
  /** A self-signed CA: `<name>.crt`, `<name>.key`. */
  authority(name: string): void;
  /** A certificate for `cn` signed by `ca`: `<name>.crt`, `<name>.key` (mode 0600). */
  issue(name: string, cn: string, ca: string, extensions: string): void;
  remove(): void;
}

/**
 * The set a client-certificate test needs: `ca` and `rogue-ca`; `<server>` for 127.0.0.1 signed by `ca`; `app` (the
 * client `clientCn`) signed by `ca`; `rogue`, the same name signed by `rogue-ca`.
 */
export function issueClientTestSet(d: CertDir, server: string, clientCn: string): void {
  d.authority('ca');
  d.authority('rogue-ca');
  d.issue(server, '127.0.0.1', 'ca', SERVER_EXT);
  d.issue('app', clientCn, 'ca', CLIENT_EXT);
  d.issue('rogue', clientCn, 'rogue-ca', CLIENT_EXT);
}

export function certDir(prefix: string): CertDir {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  return {
    dir,
    file,
    readPem: (name) => readFileSync(file(name), 'utf8'),
    authority(name) {
      openssl('req', '-x509', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
    },
    issue(name, cn, ca, extensions) {
      writeFileSync(file(`${name}.ext`), extensions);
      openssl('req', ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '2',
        '-extfile',
        `${name}.ext`,
      );
      chmodSync(file(`${name}.key`), 0o600);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
