import { sql } from 'kysely';
import type { Db } from '../../src/db/index.js';
import { DIALECT } from './app.js';

/** The append-only audit tables a database administrator could still alter with their triggers off. */
const TABLES = ['audit_log', 'audit_chain', 'security_events', 'audit_subject_keys'];

/**
 * Runs `fn` as a database administrator could: the audit tables' triggers off for its duration (the
 * threat the chain and `audit verify` exist for), back on afterwards whatever happens.
 */
export async function asDba(db: Db, fn: () => Promise<unknown>): Promise<void> {
  if (DIALECT === 'postgres') {
    for (const tb of TABLES) await sql`alter table ${sql.table(tb)} disable trigger all`.execute(db);
    try {
      await fn();
    } finally {
      for (const tb of TABLES) await sql`alter table ${sql.table(tb)} enable trigger all`.execute(db);
    }
    return;
  }
  const triggers = (
    await sql<{ name: string; sql: string }>`select name, sql from sqlite_master where type = 'trigger' and tbl_name in (${sql.join(TABLES)})`.execute(db)
  ).rows;
  for (const tr of triggers) await sql`drop trigger ${sql.id(tr.name)}`.execute(db);
  try {
    await fn();
  } finally {
    for (const tr of triggers) await sql.raw(tr.sql).execute(db);
  }
}

/** A system entry of the record audit log as `chain.ts` takes it (a checkpoint's, unless `over` says otherwise). */
export const systemEntry = (over: Record<string, unknown> = {}) => ({
  at: Date.now(),
  kind: 'system',
  collection: null,
  record_id: null,
  operation: 'checkpoint',
  actor_id: null,
  actor_name: 'system',
  via: null,
  ip: null,
  user_agent: null,
  request_id: null,
  data: null as string | null,
  ...over,
});

/**
 * Runs `fn` while every security event of `type` fails to be written (as a full disk or a lost connection would fail
 * it), so that a test can show that the change the event records was not committed without it.
 */
export async function refusingEvents(db: Db, type: string, fn: () => Promise<unknown>): Promise<void> {
  if (DIALECT === 'postgres') {
    await sql`create function palisade_test_refuse_event() returns trigger language plpgsql as $$
      begin if new.type = ${sql.lit(type)} then raise exception 'refused by the test'; end if; return new; end $$`.execute(db);
    await sql`create trigger palisade_test_refuse before insert on security_events for each row execute function palisade_test_refuse_event()`.execute(db);
  } else
    await sql`create trigger palisade_test_refuse before insert on security_events when new.type = ${sql.lit(type)}
      begin select raise(abort, 'refused by the test'); end`.execute(db);
  try {
    await fn();
  } finally {
    await sql`drop trigger palisade_test_refuse${DIALECT === 'postgres' ? sql` on security_events` : sql``}`.execute(db);
    if (DIALECT === 'postgres') await sql`drop function palisade_test_refuse_event()`.execute(db);
  }
}
