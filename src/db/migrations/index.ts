import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Dialect } from '../index.js';
import { migration as m0001 } from './0001_initial.js';
import { migration as m0002 } from './0002_password_lifecycle.js';
import { migration as m0003 } from './0003_abuse_defences.js';
import { migration as m0004 } from './0004_collections.js';
import { migration as m0005 } from './0005_access.js';
import { migration as m0006 } from './0006_departments.js';
import { migration as m0007 } from './0007_api_keys.js';
import { migration as m0008 } from './0008_mfa.js';
import { migration as m0010 } from './0010_passkeys.js';
import { migration as m0011 } from './0011_mfa_sms.js';
import { migration as m0012 } from './0012_trusted_addresses.js';
import { migration as m0013 } from './0013_audit_trail.js';
import { migration as m0014 } from './0014_privacy_policies.js';
import { migration as m0015 } from './0015_secrets.js';
import { migration as m0016 } from './0016_secrets_key.js';
import { migration as m0017 } from './0017_files.js';
import { migration as m0018 } from './0018_identity_providers.js';
import { migration as m0019 } from './0019_sso_assertions.js';
import { migration as m0020 } from './0020_oidc_provider.js';
import { migration as m0021 } from './0021_sso_logout.js';
import { migration as m0022 } from './0022_state_stamps.js';
import { migration as m0023 } from './0023_list_indexes.js';
import { migration as m0024 } from './0024_initial_password_expiry.js';
import { migration as m0025 } from './0025_oidc_consents.js';
import { migration as m0026 } from './0026_credential_notify.js';
import { migration as m0027 } from './0027_audit_key_salt.js';
import { migration as m0028 } from './0028_audit_link_at_commit.js';

/**
 * The migrations, one file each (`NNNN_name.ts`), in the order they run. A new one gets the next
 * number and a line here; an applied migration is never edited.
 */

class StaticProvider implements MigrationProvider {
  constructor(private readonly dialect: Dialect) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return {
      '0001_initial': m0001(this.dialect),
      '0002_password_lifecycle': m0002(this.dialect),
      '0003_abuse_defences': m0003(),
      '0004_collections': m0004(),
      '0005_access': m0005(),
      '0006_departments': m0006(),
      '0007_api_keys': m0007(),
      '0008_mfa': m0008(),
      '0010_passkeys': m0010(),
      '0011_mfa_sms': m0011(),
      '0012_trusted_addresses': m0012(),
      '0013_audit_trail': m0013(this.dialect),
      '0014_privacy_policies': m0014(),
      '0015_secrets': m0015(),
      '0016_secrets_key': m0016(),
      '0017_files': m0017(),
      '0018_identity_providers': m0018(),
      '0019_sso_assertions': m0019(),
      '0020_oidc_provider': m0020(),
      '0021_sso_logout': m0021(),
      '0022_state_stamps': m0022(this.dialect),
      '0023_list_indexes': m0023(),
      '0024_initial_password_expiry': m0024(),
      '0025_oidc_consents': m0025(),
      '0026_credential_notify': m0026(this.dialect),
      '0027_audit_key_salt': m0027(this.dialect),
      '0028_audit_link_at_commit': m0028(this.dialect),
    };
  }
}

/** The names of the migrations this release knows, in order: a backup made at a later one cannot be restored here. */
export async function migrationNames(dialect: Dialect): Promise<string[]> {
  return Object.keys(await new StaticProvider(dialect).getMigrations()).sort();
}

/**
 * Applies pending migrations; each runs in a transaction on both dialects. `to` stops at that migration (a
 * restore rebuilds the schema a backup was made at, loads it, then migrates to the latest). `inOpenTransaction`:
 * `db` is bound to one connection on which the caller has begun a transaction, and the migrations run inside it
 * (Kysely's Migrator cannot be given a Transaction).
 */
export async function migrate(db: Kysely<any>, dialect: Dialect, opts: { to?: string; inOpenTransaction?: boolean } = {}): Promise<string[]> {
  // On PostgreSQL the migration tables live in the schema we run in; without naming it, Kysely
  // finds another schema's migration tables and skips creating ours.
  const schema = dialect === 'postgres' ? (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s : undefined;
  const migrator = new Migrator({
    db,
    provider: new StaticProvider(dialect),
    ...(schema ? { migrationTableSchema: schema } : {}),
    ...(opts.inOpenTransaction ? { disableTransactions: true } : {}),
  });
  const { error, results } = opts.to === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(opts.to);
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
