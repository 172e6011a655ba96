import type { ApiKeysTable, SessionsTable, UsersTable } from '../db/types.js';
import { PostgresAdapter, sql, type AliasedRawBuilder, type Compilable, type RawBuilder } from 'kysely';
import { stampColumns, type Stamps } from '../db/stamps.js';
import { deepFreeze } from '../util/stamped-cache.js';
import type { Db } from '../db/index.js';
import { compiledOnce } from '../db/compiled.js';
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

/** A credential table's columns, named one by one: a prepared statement's result never changes shape under it. */
const OWN = {
  sessions: [
    'id',
    'user_id',
    'mode',
    'remember',
    'created_at',
    'expires_at',
    'last_seen_at',
    'ip',
    'user_agent',
    'revoked_at',
    'revoked_reason',
    'active_role',
    'sso_provider',
    'sso_subject',
    'sso_sid',
  ] as const satisfies readonly (keyof SessionsTable)[],
  api_keys: [
    'id',
    'user_id',
    'name',
    'key_hash',
    'hint',
    'role',
    'read_only',
    'ip_allow',
    'created_at',
    'created_by',
    'expires_at',
    'last_used_at',
    'last_used_ip',
    'revoked_at',
    'revoked_reason',
    'rotated_from',
  ] as const satisfies readonly (keyof ApiKeysTable)[],
};
const ownComplete: [
  [Exclude<keyof SessionsTable, (typeof OWN.sessions)[number]>] extends [never] ? true : never,
  [Exclude<keyof ApiKeysTable, (typeof OWN.api_keys)[number]>] extends [never] ? true : never,
] = [true, true];
void ownComplete;

interface Credentials {
  sessions: { row: SessionsTable; key: 'id' };
  api_keys: { row: ApiKeysTable; key: 'key_hash' };
}

/** Rows a lookup keeps under the change mark: about a client each, a kilobyte apiece. */
const KEPT_MAX = 5_000;

/**
 * The lookup of a credential by its key (a session by id, an API key by hash) with its user, the user's lock and the
 * version stamps: one statement, built once per instance (issue 14). On SQLite the account comes as scalar
 * subqueries (`accountColumns`); on PostgreSQL as left joins, run as a prepared statement: there sixteen subqueries
 * cost about 1.8 ms of planning a run, and the joined statement ran 2.9 times as many lookups a second (7.5 times
 * prepared; pgbench, 8 clients, D449).
 *
 * `mark` (SQLite, `DbHandle.changeMark`): a row read under a mark is given again while the mark has not moved, that
 * is while no row of the database has changed, through this process or any other (D450). A row is the database's
 * answer at that mark, so what the caller decides from it (revoked, expired, locked, the stamps) is what a fresh
 * read would give; the time-dependent checks are the caller's and run at each use.
 */
export function credentialLookup<T extends keyof Credentials>(
  db: Db,
  table: T,
  key: Credentials[T]['key'],
  mark?: () => string,
): (value: string) => Promise<Readonly<Credentials[T]['row'] & AccountCells> | undefined> {
  type Row = Credentials[T]['row'] & AccountCells;
  const own = OWN[table] as readonly string[];
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  const read = compiledOnce(db, (value) => {
    const ownCols = sql.join(own.map((c) => sql.ref(`c.${c}`)));
    const query: RawBuilder<Row> = postgres
      ? sql`select ${ownCols}, ${sql.join(COLUMNS.map((c) => sql`${sql.ref(`u.${c}`)} as ${sql.ref(`u_${c}`)}`))},
          l.user_id as lock_user, l.locked_until as lock_until, st.access as stamp_access, st.settings as stamp_settings
          from ${sql.table(table)} as c
          left join users as u on u.id = c.user_id
          left join account_locks as l on l.user_id = c.user_id
          left join state_stamps as st on st.id = 1
          where ${sql.ref(`c.${key}`)} = ${value}`
      : sql`select ${ownCols}, ${sql.join(accountColumns('c.user_id'))} from ${sql.table(table)} as c where ${sql.ref(`c.${key}`)} = ${value}`;
    return { compile: () => query.compile(db) } satisfies Compilable<Row>;
  });
  if (!mark) return read;
  const kept = new Map<string, { mark: string; row: Readonly<Row> }>();
  return async (value) => {
    const at = mark();
    const hit = kept.get(value);
    if (hit?.mark === at) return hit.row;
    const row = await read(value);
    // Kept only when nothing changed while the statement waited for the connection: the row is then the answer at `at`.
    if (row && mark() === at) {
      if (!hit && kept.size >= KEPT_MAX) kept.delete(kept.keys().next().value as string);
      kept.set(value, { mark: at, row: Object.freeze(row) });
    }
    return row;
  };
}

/**
 * The users table's columns as `u_<column>`, the lock's as `lock_user`, `lock_until`, and the version stamps, for a
 * credential's query whose user is `owner`. Each is a scalar subquery, not a join: on SQLite a join bound to a
 * parameter is planned again at every run (about 30 µs a lookup, measured), a scalar subquery is not (SQLite only:
 * PostgreSQL plans them slowly, see `credentialLookup`).
 */
function accountColumns(owner: 'c.user_id'): AccountSelection {
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

type Split<T extends keyof Credentials> = { own: Credentials[T]['row']; account: AccountRow | null };

/** The splits of kept rows (frozen, served to many requests): made once per row and clock, and frozen in turn. */
const splits = new WeakMap<object, { table: keyof Credentials; now: () => number; split: Split<keyof Credentials> }>();

/** A row split into the credential's own columns and the account read with it (null when the row names no user). */
export function splitAccount<T extends keyof Credentials>(row: Readonly<Credentials[T]['row'] & AccountCells>, table: T, now: () => number): Split<T> {
  const kept = Object.isFrozen(row) ? splits.get(row) : undefined;
  if (kept && kept.table === table && kept.now === now) return kept.split as Split<T>;
  const own: Record<string, unknown> = {};
  for (const c of OWN[table]) own[c] = (row as Record<string, unknown>)[c];
  const split = { own: own as unknown as Credentials[T]['row'], account: accountOf(row, now) };
  if (!Object.isFrozen(row)) return split;
  // The account's lock is asked of the clock at each use (activeLock), so one split serves every request of the row.
  deepFreeze(split);
  splits.set(row, { table, now, split });
  return split;
}

/** The user, lock and stamps of a row; null when the row names no user. */
function accountOf(row: AccountCells, now: () => number): AccountRow | null {
  if (row.u_id === null) return null;
  const user: Record<string, unknown> = {};
  for (const c of COLUMNS) user[c] = row[`u_${c}`];
  const locked = row.lock_user !== null;
  const until = row.lock_until;
  return {
    user: user as unknown as UsersTable,
    lockout: {
      // As AccountLocks.activeLock decides it, on the row read with the credential.
      activeLock: async () => (!locked || (until !== null && until <= now()) ? null : { lockedUntil: until }),
    },
    // No stamps row (removed by hand): no stamps, so this request reads afresh and caches nothing.
    ...(row.stamp_access === null || row.stamp_settings === null ? {} : { stamps: { access: Number(row.stamp_access), settings: Number(row.stamp_settings) } }),
  };
}
