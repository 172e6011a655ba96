import { existsSync } from 'node:fs';
import { sql } from 'kysely';
import type { Db, Dialect } from '../db/index.js';
import { AppError } from '../errors.js';
import { ConfigError } from '../config/index.js';
import { UNREADABLE_SECRET } from '../config/settings.js';
import type { Actor, EventContext, SecurityLog } from '../audit/events.js';
import { decrypt, encrypt } from './cipher.js';
import type { SecretsConfig } from './env.js';
import {
  type DataKey,
  dataKey,
  formatKey,
  installKeyFile,
  keyFileProblem,
  newDataKey,
  nextKeyFileOf,
  parseKey,
  readKeyFile,
  removeIfPresent,
  writeKeyFile,
} from './key.js';
import { nameProblem, valueProblem } from './names.js';

export type { SecretsConfig } from './env.js';
export { secretsEnv } from './env.js';

/** What anyone may know of a secret: never its value. */
export interface SecretView {
  name: string;
  set: boolean;
  /** Whether the current key opens it (false: altered in the database or sealed under another key); null when not set. */
  readable: boolean | null;
  /** The setting that refers to this name, when one does. */
  usedBy: string | null;
  createdAt: number | null;
  createdBy: Actor | null;
  updatedAt: number | null;
  updatedBy: Actor | null;
}

/** A name a feature refers to (a settings area's write-only field), listed even while not set. */
export interface KnownSecret {
  name: string;
  usedBy: string;
}

export type Resolved = { state: 'set'; value: string } | { state: 'unset' } | { state: 'unreadable' };

export interface RotationResult {
  count: number;
  keyId: string;
  previousKeyId: string;
  /** The new key, for the operator to install, when it came from SECRETS_KEY or SECRETS_KEY_FILE; null when Palisade keeps it. */
  newKey: string | null;
}

/** What administration (routes, UI) may do: list, set, delete, rotate; never read a value back. */
export type SecretAdmin = Pick<SecretStore, 'list' | 'view' | 'set' | 'delete' | 'rotate' | 'keyId' | 'keySource'>;

interface Deps {
  db: Db;
  dialect: Dialect;
  log: SecurityLog;
  now: () => number;
  config: SecretsConfig;
}

/**
 * The secret store (DATA-1): named third-party credentials, write-only. `set`, `delete` and `list` are
 * the administrators' (API, CLI, UI); `resolve` is the server's own, never reachable from a route. Each
 * change commits with its security event, which names the secret and never holds its value.
 */
export class SecretStore {
  private known: KnownSecret[] = [];

  private constructor(
    private readonly d: Deps,
    private key: DataKey,
  ) {}

  /**
   * Opens the store: the key from SECRETS_KEY(_FILE), or DATA_DIR/secrets.key (generated here at the first
   * start, mode 0600; refused when group or others can read it). A rotation that a crash interrupted is
   * settled first: its next key is installed if the secrets were re-encrypted under it, else dropped.
   */
  static async open(d: Deps): Promise<SecretStore> {
    const { config } = d;
    if (config.source !== 'data-dir') {
      const k = parseKey(config.key ?? '');
      if (k === null) throw new ConfigError([`${config.source === 'env' ? 'SECRETS_KEY' : 'SECRETS_KEY_FILE'} does not hold a secrets key`]);
      return new SecretStore(d, dataKey(k));
    }
    const file = config.file!;
    const next = nextKeyFileOf(file);
    if (existsSync(next)) {
      const p = keyFileProblem(next);
      const nextKey = p === null ? readKeyFile(next) : null;
      const moved = nextKey && (await d.db.selectFrom('secrets').select('name').where('key_id', '=', nextKey.id).limit(1).executeTakeFirst());
      if (moved) installKeyFile(next, file);
      else removeIfPresent(next);
    }
    if (!existsSync(file)) {
      try {
        writeKeyFile(file, newDataKey());
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another instance on this data directory made it first
      }
    }
    const p = keyFileProblem(file);
    if (p) throw new ConfigError([p]);
    return new SecretStore(d, readKeyFile(file));
  }

  /** The id of the key new secrets are sealed under (a fingerprint, not the key). */
  get keyId(): string {
    return this.key.id;
  }

  get keySource(): SecretsConfig['source'] {
    return this.d.config.source;
  }

  /** Names features refer to (the settings areas' write-only fields): listed even while not set. */
  registerKnown(names: readonly KnownSecret[]): void {
    this.known = [...names];
  }

  /**
   * Another process (`palisade secrets rotate-key`) may have rotated the key file under us: read it again.
   * A write refuses while a rotation's next key file exists (it would seal under a key about to go).
   */
  private refresh(forWrite: boolean): void {
    if (this.d.config.source !== 'data-dir') return;
    const file = this.d.config.file!;
    if (forWrite && existsSync(nextKeyFileOf(file))) throw new AppError('SECRETS_BUSY');
    try {
      const k = readKeyFile(file);
      if (k.id !== this.key.id) this.key = k;
    } catch {
      // The file being replaced right now: keep the key we have; a stale write is caught after it.
    }
  }

  /** The key a stored secret names: the current one, or (between a rotation's commit and its rename) the next. */
  private keyFor(keyId: string): DataKey | null {
    if (keyId === this.key.id) return this.key;
    this.refresh(false);
    if (keyId === this.key.id) return this.key;
    const next = this.d.config.source === 'data-dir' ? nextKeyFileOf(this.d.config.file!) : null;
    if (next && existsSync(next)) {
      try {
        const k = readKeyFile(next);
        if (k.id === keyId) return k;
      } catch {
        return null;
      }
    }
    return null;
  }

  private open(row: { name: string; ciphertext: string; key_id: string }): string | null {
    const key = this.keyFor(row.key_id);
    return key === null ? null : decrypt(key, row.name, row.ciphertext);
  }

  async list(): Promise<SecretView[]> {
    const rows = await this.d.db.selectFrom('secrets').selectAll().orderBy('name').execute();
    const usedBy = new Map(this.known.map((k) => [k.name, k.usedBy]));
    const out: SecretView[] = rows.map((r) => ({
      name: r.name,
      set: true,
      readable: this.safeOpen(r) !== null,
      usedBy: usedBy.get(r.name) ?? null,
      createdAt: Number(r.created_at),
      createdBy: { id: r.created_by, name: r.created_by_name },
      updatedAt: Number(r.updated_at),
      updatedBy: { id: r.updated_by, name: r.updated_by_name },
    }));
    for (const k of this.known) {
      if (!rows.some((r) => r.name === k.name))
        out.push({ name: k.name, set: false, readable: null, usedBy: k.usedBy, createdAt: null, createdBy: null, updatedAt: null, updatedBy: null });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private safeOpen(r: { name: string; ciphertext: string; key_id: string }): string | null {
    try {
      return this.open(r);
    } catch {
      return null;
    }
  }

  async view(name: string): Promise<SecretView | null> {
    return (await this.list()).find((v) => v.name === name) ?? null;
  }

  /** For the server's own use only (a feature that sends the credential); never exposed by a route. */
  async resolve(name: string, db: Db = this.d.db): Promise<Resolved> {
    const row = await db.selectFrom('secrets').select(['name', 'ciphertext', 'key_id']).where('name', '=', name).executeTakeFirst();
    if (!row) return { state: 'unset' };
    const plain = this.safeOpen(row);
    return plain === null ? { state: 'unreadable' } : { state: 'set', value: plain };
  }

  /** The settings store's view (`SecretBackend`): the value, null when not set, UNREADABLE_SECRET when it does not open. */
  async read(name: string, db: Db): Promise<string | null> {
    const r = await this.resolve(name, db);
    return r.state === 'set' ? r.value : r.state === 'unset' ? null : UNREADABLE_SECRET;
  }

  /** The settings store's writes: a value sets, '' deletes, inside the settings change's transaction. */
  async write(name: string, value: string, ctx: EventContext, db: Db): Promise<void> {
    if (value === '') {
      await this.deleteIn(db, name, ctx);
      return;
    }
    const np = valueProblem(value);
    if (np) throw new AppError('VALIDATION_FAILED', [{ path: '/value', message: np }]);
    try {
      await this.setIn(db, name, value, ctx);
    } catch (e) {
      throw e instanceof StaleKey ? new AppError('SECRETS_BUSY') : e;
    }
  }

  /** Creates or replaces a secret, with its `secret.set` event in the same transaction. */
  async set(name: string, value: string, ctx: EventContext): Promise<{ created: boolean }> {
    const np = nameProblem(name) ?? valueProblem(value);
    if (np) throw new AppError('VALIDATION_FAILED', [{ path: np.startsWith('a secret name') ? '/name' : '/value', message: np }]);
    return this.retrying(() => this.d.db.transaction().execute((trx) => this.setIn(trx, name, value, ctx)));
  }

  /** Deletes a secret with its `secret.deleted` event; false when there was none. */
  async delete(name: string, ctx: EventContext): Promise<boolean> {
    if (nameProblem(name)) return false;
    return this.d.db.transaction().execute((trx) => this.deleteIn(trx, name, ctx));
  }

  /** A rotation by another process committed between our key check and our write: once more with its key. */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof StaleKey)) throw e;
      this.refresh(true);
      try {
        return await fn();
      } catch (again) {
        throw again instanceof StaleKey ? new AppError('SECRETS_BUSY') : again;
      }
    }
  }

  private async setIn(trx: Db, name: string, value: string, ctx: EventContext): Promise<{ created: boolean }> {
    this.refresh(true);
    const now = this.d.now();
    const ciphertext = encrypt(this.key, name, value);
    const by = { id: ctx.actor.id, name: ctx.actor.name };
    const existed = await trx.selectFrom('secrets').select('name').where('name', '=', name).executeTakeFirst();
    await trx
      .insertInto('secrets')
      .values({
        name,
        ciphertext,
        key_id: this.key.id,
        created_at: now,
        created_by: by.id,
        created_by_name: by.name,
        updated_at: now,
        updated_by: by.id,
        updated_by_name: by.name,
      })
      .onConflict((oc) => oc.column('name').doUpdateSet({ ciphertext, key_id: this.key.id, updated_at: now, updated_by: by.id, updated_by_name: by.name }))
      .execute();
    // The write waited for any rotation holding the table; one that committed first sealed the rest under a newer key.
    const other = await trx.selectFrom('secrets').select('key_id').where('key_id', '<>', this.key.id).limit(1).executeTakeFirst();
    if (other) throw new StaleKey();
    await this.d.log.record(ctx, { type: 'secret.set', outcome: 'success', details: { name, created: !existed } }, trx);
    return { created: !existed };
  }

  private async deleteIn(trx: Db, name: string, ctx: EventContext): Promise<boolean> {
    const r = await trx.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) return false;
    await this.d.log.record(ctx, { type: 'secret.deleted', outcome: 'success', details: { name } }, trx);
    return true;
  }

  /**
   * A new data key, every secret re-encrypted under it in ONE transaction (with its event). Order, for a crash
   * at any point (D193): the next key is written to `secrets.key.next` (0600, flushed); the transaction
   * commits; only then is the next key renamed over `secrets.key`. Before the commit the old key still opens
   * everything and the next file is dropped at start; after it, start finds secrets under the next key's id
   * and completes the rename. A key from SECRETS_KEY(_FILE) is returned for the operator to install
   * (`external: 'return'`), or refused (`'refuse'`: the API, which must never answer with a key).
   */
  async rotate(ctx: EventContext, external: 'refuse' | 'return'): Promise<RotationResult> {
    const { config } = this.d;
    if (config.source !== 'data-dir' && external === 'refuse') throw new AppError('SECRETS_KEY_EXTERNAL');
    this.refresh(true);
    const previous = this.key;
    const next = newDataKey();
    const nextFile = config.source === 'data-dir' ? nextKeyFileOf(config.file!) : null;
    if (nextFile) {
      try {
        writeKeyFile(nextFile, next);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('SECRETS_BUSY');
        throw e;
      }
    }
    let count: number;
    try {
      count = await this.d.db.transaction().execute(async (trx) => {
        // Writers wait for the rotation (PostgreSQL; SQLite has one writer at a time anyway).
        if (this.d.dialect === 'postgres') await sql`lock table secrets in exclusive mode`.execute(trx);
        const rows = await trx.selectFrom('secrets').select(['name', 'ciphertext', 'key_id']).orderBy('name').execute();
        const plain = rows.map((r) => ({ name: r.name, value: r.key_id === previous.id ? decrypt(previous, r.name, r.ciphertext) : null }));
        const unreadable = plain.filter((p) => p.value === null).map((p) => p.name);
        if (unreadable.length > 0) throw new AppError('SECRETS_UNREADABLE', { names: unreadable });
        for (const p of plain) {
          await trx
            .updateTable('secrets')
            .set({ ciphertext: encrypt(next, p.name, p.value!), key_id: next.id })
            .where('name', '=', p.name)
            .execute();
        }
        await this.d.log.record(
          ctx,
          { type: 'secrets.key_rotated', outcome: 'success', details: { count: rows.length, keyId: next.id, previousKeyId: previous.id } },
          trx,
        );
        return rows.length;
      });
    } catch (e) {
      if (nextFile) removeIfPresent(nextFile);
      throw e;
    }
    if (nextFile) {
      // Another instance starting meanwhile may have settled the next file already (dropped or installed it):
      // the key is written again from memory, so the committed secrets never lose theirs.
      if (existsSync(nextFile)) installKeyFile(nextFile, config.file!);
      else if (readKeyFile(config.file!).id !== next.id) {
        const tmp = `${config.file!}.tmp-${process.pid}`;
        removeIfPresent(tmp);
        writeKeyFile(tmp, next);
        installKeyFile(tmp, config.file!);
      }
    }
    this.key = next;
    return { count, keyId: next.id, previousKeyId: previous.id, newKey: config.source === 'data-dir' ? null : formatKey(next.key) };
  }
}

class StaleKey extends Error {}
