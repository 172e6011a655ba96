import type { UsersTable } from '../db/types.js';
import { sql, type AliasedRawBuilder } from 'kysely';
import { stampColumns, type Stamps } from '../db/stamps.js';
import type { AccountLocks } from './account-locks.js';

/**
 * What a credential's lookup reads beside the credential itself, in the same statement (issue 14): the user, the
 * user's lock and the version stamps. The user's columns come prefixed `u_`, so that they do not collide with the
 * credential's own.
 */
const COLUMNS = [
  'id',
  'username',
  'email',
  'password_hash',
  'status',
  'is_admin',
  'created_at',
  'updated_at',
  'password_changed_at',
  'must_change_password',
  'sso_only',
  'password_reminded_at',
  'must_change_by',
] as const satisfies readonly (keyof UsersTable)[];

// Every column of the users table is read: a column added to UsersTable and not here fails to compile.
type Missing = Exclude<keyof UsersTable, (typeof COLUMNS)[number]>;
const complete: [Missing] extends [never] ? true : Missing = true;
void complete;

/**
 * The users table's columns as `u_<column>`, the lock's as `lock_user`, `lock_until`, and the version stamps, for a
 * credential's query whose user is `owner`. Each is a scalar subquery, not a join: on SQLite a join bound to a
 * parameter is planned again at every run (about 30 µs a lookup, measured), a scalar subquery is not; on PostgreSQL
 * each is one index probe in the same round trip.
 */
export function accountColumns(owner: 'sessions.user_id' | 'api_keys.user_id'): AccountSelection {
  const of = (table: string, column: string, key: string, as: string) =>
    sql`(select ${sql.ref(`${table}.${column}`)} from ${sql.table(table)} where ${sql.ref(`${table}.${key}`)} = ${sql.ref(owner)})`.as(as);
  return [
    ...COLUMNS.map((c) => of('users', c, 'id', `u_${c}`)),
    of('account_locks', 'user_id', 'user_id', 'lock_user'),
    of('account_locks', 'locked_until', 'user_id', 'lock_until'),
    ...stampColumns(),
  ] as AccountSelection;
}

type UserCells = { [K in keyof UsersTable as `u_${K}`]: UsersTable[K] | null };

/** A row of such a query: the user's cells (null when no user matched), the lock's and the stamps. */
export type AccountCells = UserCells & { lock_user: string | null; lock_until: number | null; stamp_access: number | null; stamp_settings: number | null };

/** The selections of `accountColumns`, each typed by its alias. */
type AccountSelection = { [K in keyof AccountCells]: AliasedRawBuilder<AccountCells[K], K> }[keyof AccountCells][];

export interface AccountRow {
  user: UsersTable;
  /** The lock read with the user, as the account stage asks it (AUTH-9). */
  lockout: Pick<AccountLocks, 'activeLock'>;
  /** Absent when the stamps row is missing: the request then uses no cache. */
  stamps?: Stamps;
}

const ACCOUNT_KEYS: ReadonlySet<string> = new Set([...COLUMNS.map((c) => `u_${c}`), 'lock_user', 'lock_until', 'stamp_access', 'stamp_settings']);

/** A row split into the credential's own columns and the account read with it (null when the row names no user). */
export function splitAccount<R extends AccountCells>(row: R, now: () => number): { own: Omit<R, keyof AccountCells>; account: AccountRow | null } {
  const own = Object.fromEntries(Object.entries(row).filter(([k]) => !ACCOUNT_KEYS.has(k))) as Omit<R, keyof AccountCells>;
  return { own, account: accountOf(row, now) };
}

/** The user, lock and stamps of a row; null when the row names no user. */
function accountOf(row: AccountCells, now: () => number): AccountRow | null {
  if (row.u_id === null) return null;
  const user = Object.fromEntries(COLUMNS.map((c) => [c, row[`u_${c}`]])) as unknown as UsersTable;
  const locked = row.lock_user !== null;
  const until = row.lock_until;
  return {
    user,
    lockout: {
      // As AccountLocks.activeLock decides it, on the row read with the credential.
      activeLock: async () => (!locked || (until !== null && until <= now()) ? null : { lockedUntil: until }),
    },
    // No stamps row (removed by hand): no stamps, so this request reads afresh and caches nothing.
    ...(row.stamp_access === null || row.stamp_settings === null ? {} : { stamps: { access: Number(row.stamp_access), settings: Number(row.stamp_settings) } }),
  };
}
