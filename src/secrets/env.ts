import { existsSync, statSync } from 'node:fs';
import { secretVar } from '../config/env.js';
import type { ConfigSection } from '../config/index.js';
import { keyFileOf, keyFileProblem, parseKey } from './key.js';

/** Where the secret store's data key comes from (DATA-1). */
export interface SecretsConfig {
  /** env: SECRETS_KEY; file: SECRETS_KEY_FILE; data-dir: DATA_DIR/secrets.key, generated at the first start. */
  readonly source: 'env' | 'file' | 'data-dir';
  /** The key as given (env, file); null for data-dir, read or generated when the services start. */
  readonly key: string | null;
  /** The key file the store reads (SECRETS_KEY_FILE or DATA_DIR/secrets.key); null for env. */
  readonly file: string | null;
}

function modeOf(file: string): number | null {
  try {
    return statSync(file).mode;
  } catch {
    return null;
  }
}

const FORMAT = 'must be 32 random bytes as 64 hex digits or base64 (openssl rand -base64 32)';

/** SECRETS_KEY or SECRETS_KEY_FILE, else DATA_DIR/secrets.key, refused when group or others can read it. */
export const secretsEnv: ConfigSection<{ secrets: SecretsConfig }> = {
  read(env, problems, warnings, base) {
    const v = secretVar(env, 'SECRETS_KEY', problems);
    if (v.value !== undefined) {
      if (parseKey(v.value) === null) problems.push(`${v.fromFile ? 'SECRETS_KEY_FILE: the file' : 'SECRETS_KEY'} ${FORMAT}`);
      if (v.fromFile) {
        // A warning, not a refusal (D191): container secrets are often mounted 0440 or 0444 by the platform.
        const mode = modeOf(env.SECRETS_KEY_FILE ?? '');
        if (mode !== null && (mode & 0o077) !== 0)
          warnings.push(
            `SECRETS_KEY_FILE ${env.SECRETS_KEY_FILE} is readable by group or other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); make it 0600 or 0400, owned by Palisade's user`,
          );
      }
      return { secrets: { source: v.fromFile ? 'file' : 'env', key: v.value, file: v.fromFile ? (env.SECRETS_KEY_FILE ?? null) : null } };
    }
    const file = keyFileOf(base.dataDir);
    if (existsSync(file)) {
      const p = keyFileProblem(file);
      if (p) problems.push(p);
    }
    return { secrets: { source: 'data-dir', key: null, file } };
  },
};
