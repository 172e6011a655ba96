import { Migrator, sql, type ColumnDefinitionBuilder, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from './index.js';

function initial(dialect: Dialect): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull().unique())
        .addColumn('email', 'text', (c) => c.unique())
        .addColumn('password_hash', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('is_admin', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('password_changed_at', big)
        .execute();
      await db.schema.createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('remember', 'integer', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .addColumn('last_seen_at', big, (c) => c.notNull())
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text', (c) => c.notNull())
        .addColumn('revoked_at', big)
        .addColumn('revoked_reason', 'text')
        .execute();
      await db.schema.createIndex('sessions_user_idx').on('sessions').column('user_id').execute();
      await db.schema.createTable('token_renewals')
        .addColumn('jti', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('new_jti', 'text', (c) => c.notNull())
        .addColumn('new_iat', big, (c) => c.notNull())
        .addColumn('new_exp', big, (c) => c.notNull())
        .addColumn('kid', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('retired_at', big)
        .execute();
      await db.schema.createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', big, (c) => c.notNull())
        .addColumn('updated_by', 'text')
        .execute();
      await db.schema.createTable('security_events')
        .addColumn('id', dialect === 'postgres' ? 'bigserial' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement())
        .addColumn('at', big, (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('actor_id', 'text')
        .addColumn('actor_name', 'text')
        .addColumn('subject_id', 'text')
        .addColumn('ip', 'text')
        .addColumn('user_agent', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'text')
        .execute();
      await db.schema.createIndex('security_events_at_idx').on('security_events').column('at').execute();
      await db.schema.createIndex('security_events_type_idx').on('security_events').columns(['type', 'at']).execute();
      // The security event log is append-only at the database level too.
      if (dialect === 'postgres') {
        await sql`CREATE FUNCTION security_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'security_events is append-only'; END $$`.execute(db);
        await sql`CREATE TRIGGER security_events_no_change BEFORE UPDATE OR DELETE ON security_events
          FOR EACH ROW EXECUTE FUNCTION security_events_append_only()`.execute(db);
      } else {
        await sql`CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
          BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END`.execute(db);
        await sql`CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
          BEGIN SELECT RAISE(ABORT, 'security_events is append-only'); END`.execute(db);
      }
    },
  };
}

/** Abuse defences (issue 5): shared counters and flags, account locks, IP rules. */
function abuseDefences(): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('shared_kv')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('count', big, (c) => c.notNull())
        .addColumn('value', 'text')
        .addColumn('expires_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('shared_kv_expires_idx').on('shared_kv').column('expires_at').execute();
      await db.schema.createTable('account_locks')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('locked_at', big, (c) => c.notNull())
        .addColumn('locked_until', big)
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('locked_by', 'text')
        .execute();
      await db.schema.createTable('ip_rules')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('cidr', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('note', 'text')
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('created_by', 'text')
        .execute();
      await db.schema.createIndex('ip_rules_unique_idx').on('ip_rules').columns(['action', 'cidr', 'scope']).unique().execute();
    },
  };
}

/** Password lifecycle (issue 4, AUTH-7, AUTH-8): expiry flags, history, single-use links, forgot throttle. */
function passwordLifecycle(dialect: Dialect): Migration {
  const big = 'bigint' as const;
  const serial = (c: ColumnDefinitionBuilder) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement());
  const idType = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('must_change_password', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('users').addColumn('sso_only', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('users').addColumn('password_reminded_at', big).execute();
      await db.schema.createTable('password_history')
        .addColumn('id', idType, serial)
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('password_history_user_idx').on('password_history').columns(['user_id', 'id']).execute();
      await db.schema.createTable('password_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('verifier_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('expires_at', big, (c) => c.notNull())
        .addColumn('used_at', big)
        .addColumn('revoked_at', big)
        .addColumn('created_by', 'text')
        .execute();
      await db.schema.createIndex('password_tokens_user_idx').on('password_tokens').columns(['user_id', 'created_at']).execute();
      await db.schema.createTable('password_reset_requests')
        .addColumn('id', idType, serial)
        .addColumn('ip', 'text', (c) => c.notNull())
        .addColumn('at', big, (c) => c.notNull())
        .execute();
      await db.schema.createIndex('password_reset_requests_ip_idx').on('password_reset_requests').columns(['ip', 'at']).execute();
    },
  };
}

/** The collections registry (issue 3): definitions; each collection's own table is made by the registry. */
function collections(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('collections')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('definition', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}

/** Roles, role assignments and grants (issue 3). */
function access(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.createTable('roles')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('user_roles')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pk_user_roles', ['user_id', 'role'])
        .execute();
      await db.schema.createTable('grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
        .addColumn('collection', 'text', (c) => c.notNull())
        .addColumn('actions', 'text', (c) => c.notNull())
        .addColumn('fields', 'text', (c) => c.notNull())
        .addColumn('statuses', 'text')
        .addColumn('scope', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('grants_collection_idx').on('grants').columns(['collection', 'role']).execute();
    },
  };
}

/** ACCESS-1, ACCESS-2: system and menu permissions per role, departments that carry roles, the active role of a session. */
function departments(): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema.alterTable('roles').addColumn('permissions', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.alterTable('roles').addColumn('menus', 'text', (c) => c.notNull().defaultTo('[]')).execute();
      await db.schema.createTable('departments')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createTable('department_roles')
        .addColumn('department', 'text', (c) => c.notNull().references('departments.name').onDelete('cascade'))
        .addColumn('role', 'text', (c) => c.notNull().references('roles.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pk_department_roles', ['department', 'role'])
        .execute();
      await db.schema.createTable('user_departments')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('department', 'text', (c) => c.notNull().references('departments.name').onDelete('cascade'))
        .addPrimaryKeyConstraint('pk_user_departments', ['user_id', 'department'])
        .execute();
      await db.schema.createIndex('user_departments_department_idx').on('user_departments').column('department').execute();
      await db.schema.alterTable('sessions').addColumn('active_role', 'text').execute();
    },
  };
}

class StaticProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_initial': initial(this.dialect),
      '0002_password_lifecycle': passwordLifecycle(this.dialect),
      '0003_abuse_defences': abuseDefences(),
      '0004_collections': collections(),
      '0005_access': access(),
      '0006_departments': departments(),
    };
  }
}

/** Applies pending migrations; each runs in a transaction on both dialects. */
export async function migrate(db: Kysely<any>, dialect: Dialect): Promise<string[]> {
  // On PostgreSQL the migration tables live in the schema we run in; without naming it, Kysely
  // finds another schema's migration tables and skips creating ours.
  const schema = dialect === 'postgres'
    ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s
    : undefined;
  const migrator = new Migrator({ db, provider: new StaticProvider(dialect), ...(schema ? { migrationTableSchema: schema } : {}) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
