import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { toStderr } from './out.js';

/** Where the generated root password goes when no terminal is attached. */
export const ROOT_PASSWORD_FILE = 'initial-root-password';

/**
 * Hands the generated root password to the operator once, never through the log stream (stdout, which
 * carries the JSON log and ends up in journals and `docker logs`). On a terminal it is printed on
 * stderr; otherwise it is written to a file readable by Palisade's user only, and only its path is printed.
 */
export function announceRootPassword(username: string, password: string, dataDir: string, terminal: boolean): void {
  if (terminal) {
    toStderr(
      `\n  Root user "${username}" created. Its generated password, shown only this once:\n\n    ${password}\n\n  Sign in and change it, or set INIT_ROOT_PASSWORD before the first start.\n\n`,
    );
    return;
  }
  const file = path.resolve(dataDir, ROOT_PASSWORD_FILE);
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  toStderr(`palisade: root user "${username}" created; its generated password is in ${file} (mode 0600). Sign in, change it, then delete the file.\n`);
}

/** The last line of the start output: where to open Palisade. */
export function announceListening(host: string, port: number, tls = false): void {
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  toStderr(`palisade: ready; open ${tls ? 'https' : 'http'}://${shown}:${port}/ in a browser\n`);
}
