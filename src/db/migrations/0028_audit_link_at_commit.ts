import { sql, type Kysely, type Migration } from 'kysely';
import type { Dialect } from '../index.js';

/**
 * Issue 13, D464: on PostgreSQL an audit entry is linked into the chain inside COMMIT, by a deferred constraint trigger,
 * instead of at its append. A transaction appends its entries to `audit_pending` (content, kind, time and digest, no
 * number); at COMMIT `audit_link` takes the chain's head row, numbers each entry, writes it to its table and its spine
 * row with the link computed by PostgreSQL (`sha256`), moves the head and drops the pending row. The head's lock is held
 * from there to the end of the commit only, never across a round trip to the server (the bench's waits, D463's notes).
 *
 * The caches' stamp triggers (0022) lock the head before the stamps, so that all of COMMIT's locks come in one order.
 *
 * `audit_pending` is UNLOGGED: its rows live inside the transaction that wrote them (inserted, then deleted at its
 * COMMIT), so none survives a crash that the table's truncation could lose. SQLite is unchanged: there every transaction
 * holds the write lock from its start, and the append links at once (D463).
 */
export function migration(dialect: Dialect): Migration {
  return {
    async up(db: Kysely<any>) {
      if (dialect !== 'postgres') return;
      await sql`CREATE UNLOGGED TABLE audit_pending (
          id bigserial PRIMARY KEY,
          tbl text NOT NULL CHECK (tbl IN ('audit_log', 'security_events')),
          kind text NOT NULL,
          at bigint NOT NULL,
          digest text NOT NULL,
          entry jsonb NOT NULL
        )`.execute(db);
      // The link as the server computes it (chain.ts, linkHash): sha256 of the previous hash, number, kind, time, digest.
      // The schema of its creation, whatever the writer's search_path (as the stamps' functions, 0022).
      await sql`CREATE FUNCTION audit_link() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
          DECLARE
            h record;
            pos bigint;
            link text;
          BEGIN
            SELECT seq, hash INTO h FROM audit_chain_head WHERE id = 1 FOR UPDATE;
            IF NOT FOUND THEN RAISE EXCEPTION 'audit chain head missing'; END IF;
            pos := h.seq + 1;
            link := encode(sha256(convert_to(h.hash || E'\n' || pos::text || E'\n' || NEW.kind || E'\n' || NEW.at::text || E'\n' || NEW.digest, 'UTF8')), 'hex');
            IF NEW.tbl = 'audit_log' THEN
              INSERT INTO audit_log (seq, at, kind, collection, record_id, operation, actor_id, actor_name, via, ip, user_agent, request_id, data, key_salt)
                SELECT pos, NEW.at, NEW.kind, r.collection, r.record_id, r.operation, r.actor_id, r.actor_name, r.via, r.ip, r.user_agent, r.request_id, r.data, r.key_salt
                FROM jsonb_populate_record(NULL::audit_log, NEW.entry) r;
            ELSE
              INSERT INTO security_events (seq, at, type, outcome, actor_id, actor_name, subject_id, ip, user_agent, request_id, details)
                SELECT pos, NEW.at, r.type, r.outcome, r.actor_id, r.actor_name, r.subject_id, r.ip, r.user_agent, r.request_id, r.details
                FROM jsonb_populate_record(NULL::security_events, NEW.entry) r;
            END IF;
            INSERT INTO audit_chain (seq, kind, at, digest, hash) VALUES (pos, NEW.kind, NEW.at, NEW.digest, link);
            UPDATE audit_chain_head SET seq = pos, hash = link WHERE id = 1;
            DELETE FROM audit_pending WHERE id = NEW.id;
            RETURN NULL;
          END $$`.execute(db);
      await sql`CREATE CONSTRAINT TRIGGER audit_pending_link AFTER INSERT ON audit_pending
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_link()`.execute(db);
      // The caches' stamps (0022) are moved at COMMIT too, by deferred triggers that fire in the order their rows were
      // written: a transaction that changed a role and then recorded it would lock the stamps and then the head, one
      // that recorded first the other way round, and two such commits could wait on each other. The stamps' functions
      // take the head first: every transaction locks the head, then the stamps.
      for (const column of ['access', 'settings']) {
        await sql`CREATE OR REPLACE FUNCTION ${sql.raw(`state_stamp_${column}`)}() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS ${sql.lit(
          `BEGIN PERFORM 1 FROM audit_chain_head WHERE id = 1 FOR UPDATE; UPDATE state_stamps SET ${column} = ${column} + 1 WHERE id = 1; RETURN NULL; END`,
        )}`.execute(db);
      }
    },
  };
}
