import { createHash } from 'node:crypto';
import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * AUDIT-3 to AUDIT-6: the record audit log (change, access, status and system entries), the hash
 * chain every audit entry joins (security events included), its signed checkpoints, the per-record
 * keys that personal values in log entries are encrypted under (erasure destroys the key, never the
 * entry), and record revisions.
 *
 * `audit_chain` is the spine: one row per entry of any audit table, with the entry's digest and the
 * chain hash. Content rows may be removed by retention (inside a window `audit_prune` opens in the
 * same transaction, which the triggers check); the spine stays, so a removal outside retention is
 * found by `audit verify`. Updates are refused everywhere.
 */
export function migration(dialect: Dialect): Migration {
  const big = 'bigint' as const;
  // On SQLite an INTEGER PRIMARY KEY is the row id itself (64 bits): one b-tree per table instead of two,
  // fewer pages written by every audited commit.
  const seqType = dialect === 'sqlite' ? ('integer' as const) : big;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('audit_chain')
        .addColumn('seq', seqType, (c) => c.primaryKey().notNull().check(sql`seq > 0`))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('digest', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_chain_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', big, (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('unchained_count', big, (c) => c.notNull())
        .addColumn('unchained_max_id', big, (c) => c.notNull())
        .execute();
      // Security events written before the chain existed stay outside it: their number and highest id
      // are bound into the chain's first hash, so a row added later outside the chain is found.
      const pre = await sql<{ n: number | string; m: number | string | null }>`select count(*) as n, max(id) as m from security_events`.execute(db);
      const count = Number(pre.rows[0]?.n ?? 0);
      const maxId = Number(pre.rows[0]?.m ?? 0);
      const genesis = createHash('sha256').update(`palisade-audit-chain:v1:${count}:${maxId}`).digest('hex');
      await db.insertInto('audit_chain_head').values({ id: 1, seq: 0, hash: genesis, unchained_count: count, unchained_max_id: maxId }).execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('seq', seqType, (c) => c.primaryKey().notNull().check(sql`seq > 0`))
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('collection', 'text')
        .addColumn('record_id', 'text')
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('via', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('request_id', 'text')
        .addColumn('data', 'text')
        .execute();
      await db.schema.createIndex('audit_log_record_idx').on('audit_log').columns(['collection', 'record_id', 'seq']).execute();
      await db.schema.createIndex('audit_log_actor_idx').on('audit_log').columns(['actor_id', 'seq']).execute();
      await db.schema.createIndex('audit_log_at_idx').on('audit_log').columns(['kind', 'at']).execute();
      await db.schema.alterTable('security_events').addColumn('seq', big).execute();
      await db.schema.createIndex('security_events_seq_idx').on('security_events').column('seq').unique().execute();
      await db.schema
        .createTable('audit_prune')
        .addColumn('kind', 'text', (c) => c.primaryKey())
        .addColumn('before_at', big, (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('audit_subject_keys')
        .addColumn('subject', 'text', (c) => c.primaryKey())
        .addColumn('sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .$call((b) => (dialect === 'sqlite' ? b.modifyEnd(sql`without rowid`) : b))
        .execute();
      await db.schema
        .createTable('audit_checkpoints')
        .addColumn('seq', big, (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('signature', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('record_revisions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('record_id', 'text', (c) => c.notNull())
        .addColumn('rev', 'integer', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('operation', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('data', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('record_revisions_record_idx').on('record_revisions').columns(['collection', 'record_id', 'rev']).unique().execute();

      // Append-only: the spine never changes; content rows never change and leave only inside a
      // retention window that the same transaction opened.
      if (dialect === 'postgres') {
        await sql`CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$`.execute(db);
        await sql`CREATE TRIGGER audit_chain_no_change BEFORE UPDATE OR DELETE ON audit_chain
          FOR EACH ROW EXECUTE FUNCTION audit_append_only()`.execute(db);
        await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
          FOR EACH ROW EXECUTE FUNCTION audit_append_only()`.execute(db);
        await sql`CREATE FUNCTION audit_retention_only() RETURNS trigger LANGUAGE plpgsql AS $$
          DECLARE k text := CASE WHEN TG_TABLE_NAME = 'security_events' THEN 'security' ELSE to_jsonb(OLD)->>'kind' END;
          BEGIN
            IF EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = k AND OLD.at < p.before_at) THEN RETURN OLD; END IF;
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
          END $$`.execute(db);
        await sql`CREATE TRIGGER audit_log_retention BEFORE DELETE ON audit_log
          FOR EACH ROW EXECUTE FUNCTION audit_retention_only()`.execute(db);
        await sql`DROP TRIGGER security_events_no_change ON security_events`.execute(db);
        await sql`CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
          FOR EACH ROW EXECUTE FUNCTION security_events_append_only()`.execute(db);
        await sql`CREATE TRIGGER security_events_retention BEFORE DELETE ON security_events
          FOR EACH ROW EXECUTE FUNCTION audit_retention_only()`.execute(db);
        await sql`CREATE FUNCTION audit_keys_erase_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN
            IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = 'erase') THEN RETURN OLD; END IF;
            RAISE EXCEPTION 'audit_subject_keys change only by a recorded erasure';
          END $$`.execute(db);
        await sql`CREATE TRIGGER audit_subject_keys_erase_only BEFORE UPDATE OR DELETE ON audit_subject_keys
          FOR EACH ROW EXECUTE FUNCTION audit_keys_erase_only()`.execute(db);
      } else {
        await sql`CREATE TRIGGER audit_chain_no_update BEFORE UPDATE ON audit_chain
          BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END`.execute(db);
        await sql`CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
          BEGIN SELECT RAISE(ABORT, 'audit_chain is append-only'); END`.execute(db);
        await sql`CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
          BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
        await sql`CREATE TRIGGER audit_log_retention BEFORE DELETE ON audit_log
          WHEN NOT EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = OLD.kind AND OLD.at < p.before_at)
          BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END`.execute(db);
        await sql`DROP TRIGGER security_events_no_delete`.execute(db);
        await sql`CREATE TRIGGER security_events_retention BEFORE DELETE ON security_events
          WHEN NOT EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = 'security' AND OLD.at < p.before_at)
          BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END`.execute(db);
        await sql`CREATE TRIGGER audit_subject_keys_no_update BEFORE UPDATE ON audit_subject_keys
          BEGIN SELECT RAISE(ABORT, 'audit_subject_keys change only by a recorded erasure'); END`.execute(db);
        await sql`CREATE TRIGGER audit_subject_keys_erase_only BEFORE DELETE ON audit_subject_keys
          WHEN NOT EXISTS (SELECT 1 FROM audit_prune p WHERE p.kind = 'erase')
          BEGIN SELECT RAISE(ABORT, 'audit_subject_keys change only by a recorded erasure'); END`.execute(db);
      }
    },
  };
}
