import { ApiError, describeError } from './api';

/** A secret as the server lists it (GET /api/admin/secrets): never a value, only whether it is set, when and by whom. */
export interface SecretInfo {
  name: string;
  set: boolean;
  /** false: the current data key does not open it (altered, or sealed under another key); null when not set. */
  readable: boolean | null;
  usedBy: string | null;
  createdAt: string | null;
  createdBy: { id: string | null; name: string } | null;
  updatedAt: string | null;
  updatedBy: { id: string | null; name: string } | null;
}

export interface SecretList {
  secrets: SecretInfo[];
  keyId: string;
  keySource: 'env' | 'file' | 'data-dir';
}

/** The server's name rule (src/secrets/names.ts), checked here first for a message beside the field. */
export const NAME_RULE = /^[A-Za-z][A-Za-z0-9._-]{0,99}$/;
export const VALUE_MAX = 16384;

export function nameProblem(name: string): string {
  if (name === '') return 'Enter a name.';
  return NAME_RULE.test(name) ? '' : 'A letter first, then letters, digits, “.”, “_” or “-” (at most 100 characters).';
}

export function valueProblem(value: string): string {
  if (value === '') return 'Enter the value.';
  return value.length > VALUE_MAX ? `At most ${VALUE_MAX} characters.` : '';
}

export type SecretState = 'set' | 'unset' | 'unreadable';

export function stateOf(s: SecretInfo): SecretState {
  return !s.set ? 'unset' : s.readable === false ? 'unreadable' : 'set';
}

export const STATE_TEXT: Record<SecretState, string> = { set: 'Set', unset: 'Not set', unreadable: 'Unreadable' };
export const STATE_BADGE: Record<SecretState, string> = { set: 'green', unset: 'grey', unreadable: 'red' };

export const SOURCE_TEXT: Record<SecretList['keySource'], string> = {
  'data-dir': 'the data directory (secrets.key)',
  env: 'SECRETS_KEY',
  file: 'SECRETS_KEY_FILE',
};

/** Who did it, as people read it: the user's name, or the CLI or the system. */
export function byText(by: SecretInfo['updatedBy']): string {
  if (!by) return '';
  if (by.id === null) return by.name === 'cli' ? 'the palisade command' : by.name;
  return by.name;
}

/** The server's refusals in words. */
export function secretMessage(e: unknown): string {
  if (e instanceof ApiError) {
    if (e.code === 'FORBIDDEN') return 'Only administrators may manage secrets.';
    if (e.code === 'SECRETS_KEY_EXTERNAL')
      return 'The data key is set in the environment (SECRETS_KEY or SECRETS_KEY_FILE). Rotate it on the server with palisade secrets rotate-key, then install the key it prints.';
    if (e.code === 'SECRETS_UNREADABLE') {
      const names = (e.details as { names?: unknown } | undefined)?.names;
      return `${e.message}${Array.isArray(names) ? ` Unreadable: ${names.map(String).join(', ')}.` : ''}`;
    }
    if (e.code === 'NOT_FOUND') return 'This secret is not set (any more).';
  }
  return describeError(e);
}
