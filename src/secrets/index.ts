import { existsSync } from 'node:fs';
import type { StateStamps } from '../db/stamps.js';
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
  /** The new key (the one given) when the key comes from SECRETS_KEY or SECRETS_KEY_FILE; null when Palisade keeps it. Never printed. */
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
  /** Told of each committed change, so that this instance's settings are read again at once (D360). */
  stamps?: Pick<StateStamps, 'invalidate'>;
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
   * start, mode 0600; refused when group or others can read it, and not generated while the database holds
   * secrets, D208). A rotation that a crash interrupted is settled first, under the rotation lock (D207): its next
   * key is installed if its transaction committed, else dropped; a next file that cannot be read refuses the start.
   */
  static async open(d: Deps): Promise<SecretStore> {
    const { config } = d;
    if (config.source !== 'data-dir') {
      const k = parseKey(config.key ?? '');
      if (k === null) throw new ConfigError([`${config.source === 'env' ? 'SECRETS_KEY' : 'SECRETS_KEY_FILE'} does not hold a secrets key`]);
      const store = new SecretStore(d, dataKey(k));
      await store.recordKeyId();
      return store;
    }
    const file = config.file!;
    const next = nextKeyFileOf(file);
    // Under the rotation lock (D207): a next file seen here belongs to no rotation in progress (a rotation
    // writes it holding the lock), so it is a crashed one's, settled by whether its transaction committed.
    await d.db.transaction().execute(async (trx) => {
      await lockRotations(trx, d.dialect);
      if (existsSync(next)) {
        const p = keyFileProblem(next);
        // Never deleted unread: it may be the only copy of the key the secrets are sealed under.
        if (p) throw new ConfigError([`${p} (the next key of an interrupted rotation: repair or remove it by hand)`]);
        const nextKey = readKeyFile(next);
        const moved =
          (await storedKeyId(trx, d.dialect)) === nextKey.id ||
          (await trx.selectFrom('secrets').select('name').where('key_id', '=', nextKey.id).limit(1).executeTakeFirst()) !== undefined;
        if (moved) installKeyFile(next, file);
        else removeIfPresent(next);
      }
      if (!existsSync(file)) {
        // A fresh key next to secrets sealed under another would leave them unreadable and mix keys (D208).
        const ids = (await trx.selectFrom('secrets').select('key_id').distinct().execute()).map((r) => r.key_id);
        if (ids.length > 0)
          throw new ConfigError([
            `${file} does not exist but the database holds secrets sealed under the key(s) ${ids.join(', ')}: restore that secrets.key into DATA_DIR (or set SECRETS_KEY_FILE to it) instead of starting with a new key`,
          ]);
        try {
          writeKeyFile(file, newDataKey());
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another instance on this data directory made it first
        }
      }
    });
    const p = keyFileProblem(file);
    if (p) throw new ConfigError([p]);
    const store = new SecretStore(d, readKeyFile(file));
    await store.recordKeyId();
    return store;
  }

  /**
   * Records the key this process holds as the current one when the database names none yet (the first start
   * after migration 0016), or when it holds no secret (a fresh key after every secret was deleted): nothing
   * sealed under the recorded key can be lost then.
   */
  private async recordKeyId(): Promise<void> {
    const { db, dialect, now } = this.d;
    await db.transaction().execute(async (trx) => {
      await lockRotations(trx, dialect);
      const stored = await storedKeyId(trx, dialect);
      if (stored === this.key.id) return;
      if (stored === null) {
        await trx
          .insertInto('secrets_key')
          .values({ id: 1, key_id: this.key.id, updated_at: now() })
          .onConflict((oc) => oc.column('id').doNothing())
          .execute();
        return;
      }
      const any = await trx.selectFrom('secrets').select('name').limit(1).executeTakeFirst();
      if (!any) await setStoredKeyId(trx, this.key.id, now());
    });
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
    const r = await this.retrying(() => this.d.db.transaction().execute((trx) => this.setIn(trx, name, value, ctx)));
    this.d.stamps?.invalidate();
    return r;
  }

  /** Deletes a secret with its `secret.deleted` event; false when there was none. */
  async delete(name: string, ctx: EventContext): Promise<boolean> {
    if (nameProblem(name)) return false;
    const r = await this.d.db.transaction().execute((trx) => this.deleteIn(trx, name, ctx));
    this.d.stamps?.invalidate();
    return r;
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
    // The current key as the database knows it, read in this transaction (D206): a rotation that committed
    // first moved it, one in progress waits for us (FOR SHARE) or we for it. A key file is read again; a key
    // from the environment cannot be, and the write refuses rather than seal under a retired key.
    const current = await storedKeyId(trx, this.d.dialect, true);
    if (current !== null && current !== this.key.id) {
      this.refresh(false);
      if (current !== this.key.id) throw new StaleKey();
    }
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
   * and completes the rename. Serialised with other rotations and start-up settlement by the rotation lock
   * (D207). A key from SECRETS_KEY(_FILE) is rotated only to the key the operator `given` (the CLI's
   * --new-key-file, D209; `external: 'return'`), or refused (`'refuse'`: the API, which must never handle a key).
   */
  async rotate(ctx: EventContext, external: 'refuse' | 'return', given?: DataKey): Promise<RotationResult> {
    const { config } = this.d;
    if (config.source !== 'data-dir' && external === 'refuse') throw new AppError('SECRETS_KEY_EXTERNAL');
    // A key from the environment is given by the operator, already saved where it will be installed (D209).
    if (config.source !== 'data-dir' && !given) throw new AppError('SECRETS_KEY_EXTERNAL');
    const next = given ?? newDataKey();
    const nextFile = config.source === 'data-dir' ? nextKeyFileOf(config.file!) : null;
    let previous = this.key;
    let wrote = false;
    let count: number;
    try {
      count = await this.d.db.transaction().execute(async (trx) => {
        // One rotation at a time, and no start-up settlement meanwhile (D207): the next file written below
        // is ours until this transaction ends.
        await lockRotations(trx, this.d.dialect);
        this.refresh(true);
        const stored = await storedKeyId(trx, this.d.dialect);
        if (stored !== null && stored !== this.key.id) throw new AppError('SECRETS_BUSY'); // this process holds a retired key
        previous = this.key;
        if (next.id === previous.id) throw new AppError('VALIDATION_FAILED', [{ path: '/newKey', message: 'the new key is the current key' }]);
        if (nextFile) {
          try {
            writeKeyFile(nextFile, next);
            wrote = true;
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('SECRETS_BUSY');
            throw e;
          }
        }
        // Before the table lock: a write holding the key row FOR SHARE finishes first, and cannot then wait
        // on the table lock while we wait on its row.
        await setStoredKeyId(trx, next.id, this.d.now());
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
      if (nextFile && wrote) removeIfKey(nextFile, next.id);
      throw e;
    }
    if (nextFile) installOwnKey(nextFile, config.file!, next);
    this.key = next;
    return { count, keyId: next.id, previousKeyId: previous.id, newKey: config.source === 'data-dir' ? null : formatKey(next.key) };
  }
}

/**
 * After the commit: the next file is installed only when it holds this rotation's key; otherwise (an
 * instance starting meanwhile settled it, or it is not ours) the key is written again from memory, so the
 * committed secrets never lose theirs (D207).
 */
function installOwnKey(nextFile: string, file: string, next: DataKey): void {
  let there: string | null = null;
  try {
    there = readKeyFile(nextFile).id;
  } catch {
    there = null;
  }
  if (there === next.id) {
    try {
      installKeyFile(nextFile, file);
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // installed meanwhile by a start
    }
  }
  let current: string | null = null;
  try {
    current = readKeyFile(file).id;
  } catch {
    current = null;
  }
  if (current === next.id) return;
  const tmp = `${file}.tmp-${process.pid}-${next.id}`;
  removeIfPresent(tmp);
  writeKeyFile(tmp, next);
  installKeyFile(tmp, file);
}

/** Removes a next file only when it holds the given key: never another rotation's. */
function removeIfKey(file: string, id: string): void {
  try {
    if (readKeyFile(file).id === id) removeIfPresent(file);
  } catch {
    // gone, or not a key: not ours
  }
}

/**
 * Serialises rotations and start-up settlement (D207): a transaction-scoped advisory lock on PostgreSQL (per
 * schema); on SQLite a write to the key row, which takes the database's one write lock until the end.
 */
async function lockRotations(trx: Db, dialect: Dialect): Promise<void> {
  if (dialect === 'postgres') await sql`select pg_advisory_xact_lock(hashtext('palisade.secrets.rotation:' || current_schema()))`.execute(trx);
  else await sql`update secrets_key set key_id = key_id where id = 1`.execute(trx);
}

/** The id of the current data key as the database records it (D206); null before any is recorded. */
async function storedKeyId(trx: Db, dialect: Dialect, share = false): Promise<string | null> {
  const q = trx.selectFrom('secrets_key').select('key_id').where('id', '=', 1);
  const row = await (share && dialect === 'postgres' ? q.forShare() : q).executeTakeFirst();
  return row?.key_id ?? null;
}

async function setStoredKeyId(trx: Db, keyId: string, now: number): Promise<void> {
  await trx
    .insertInto('secrets_key')
    .values({ id: 1, key_id: keyId, updated_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ key_id: keyId, updated_at: now }))
    .execute();
}

class StaleKey extends Error {}
