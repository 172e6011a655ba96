import path from 'node:path';
import { StateStamps } from './db/stamps.js';
import { SETTINGS_AREAS, settingsSeeds, type AppConfig, type Env } from './app-config.js';
import { Doctor } from './doctor/index.js';
import { createMetrics, type Metrics } from './ops/metrics.js';
import { SettingsStore, secretNameOf } from './config/settings.js';
import { SecretStore, type SecretAdmin } from './secrets/index.js';
import { createSealer } from './config/seal.js';
import { openDb, type Db, type Dialect } from './db/index.js';
import type { StorageHealth } from './db/outage.js';
import { migrate } from './db/migrations/index.js';
import { ReadinessProbe } from './ops/readiness.js';
import type { SharedState } from './shared-state/index.js';
import { DatabaseSharedState } from './shared-state/database.js';
import { RedisSharedState } from './shared-state/redis.js';
import { SecurityLog, SYSTEM_ACTOR, type EventContext } from './audit/events.js';
import type { UsersTable } from './db/types.js';
import { clearAccount } from './auth/standing.js';
import { AuditTrail, subjectKeyDeriver } from './audit/trail.js';
import { isSecretField } from './collections/schema.js';
import { AuditService } from './audit/service.js';
import { createCheckpointSigner } from './audit/checkpoints.js';
import { scheduleCheckpoints } from './audit/checkpoint-schedule.js';
import { AuditRetention } from './audit/retention.js';
import { auditLogArea, retentionPolicyOf } from './audit-settings.js';
import { AppError } from './errors.js';
import { HashQueue, PasswordHasher } from './auth/passwords.js';
import { PasswordPolicyService } from './auth/password-policy/index.js';
import { PasswordResetService } from './auth/reset/index.js';
import { ExpiryGate } from './auth/reset/expiry-gate.js';
import { createMailer, SMTP_PASSWORD_SECRET, type Mailer } from './mail/index.js';
import { createSmsChannel, SMS_PASSWORD_SECRET } from './sms/index.js';
import { BackgroundTasks, errorSummary } from './background.js';
import { createLogger } from './logger.js';
import { openLogDestination, type OpenedDestination } from './log-forward.js';
import type { DestinationStream, Logger } from 'pino';
import { KeyRing, ensureKey } from './auth/keys.js';
import { TokenService } from './auth/tokens.js';
import { SessionService } from './auth/session/index.js';
import { PasswordCredential } from './auth/credentials/password.js';
import { PasskeyCredential } from './auth/credentials/passkey.js';
import { SsoService } from './auth/sso/index.js';
import { OidcProviderService } from './auth/oidc-provider/index.js';
import { PasskeyService } from './auth/passkeys/index.js';
import { UserService } from './auth/users.js';
import { UserAdministration } from './auth/user-admin.js';
import { ApiKeyService } from './auth/api-keys/index.js';
import { LockoutService, SpreadDetector } from './auth/lockout.js';
import { AccountLocks } from './auth/account-locks.js';
import { BotCheckService } from './auth/bot-check/index.js';
import { MfaKeys, MfaPolicy, MfaService, SecondFactorGate } from './auth/mfa/index.js';
import { TrustedAddresses } from './auth/mfa/trusted-ip.js';
import { AuthNotices } from './auth/notices/index.js';
import { GeoIp } from './edge/geoip.js';
import { IpRuleService } from './edge/ip-rules.js';
import { RateLimiter } from './edge/rate-limit.js';
import { ReplayGuard } from './edge/transport.js';
import { CollectionRegistry } from './collections/registry.js';
import { AccessStore } from './access/grants.js';
import { RecordService } from './records/service.js';
import { PrivacyService } from './records/privacy.js';
import { PrivacyScheduler } from './records/privacy-scheduler.js';
import { BackupService, S3Copy, type Target as BackupTarget } from './backup/index.js';
import { FileService } from './files/service.js';
import { DiskFileStore } from './files/store.js';
import { S3FileStore } from './files/store-s3.js';
import { S3Bucket } from './util/s3.js';
import { clamdScanner } from './files/scanner.js';
import { version } from './version.js';

export interface ServiceOptions {
  config: AppConfig;
  /** The clock; tests pass one they control. Epoch milliseconds. */
  now?: () => number;
  /** PostgreSQL schema (test isolation). */
  pgSchema?: string;
  /** Redis key prefix (test isolation). */
  redisPrefix?: string;
  /** How long the key ring is cached, ms. */
  keyCacheMs?: number;
  /** Where JSON logs go; stdout by default. Tests capture them. */
  logStream?: DestinationStream;
  /** The environment the deployment started with, for `doctor` (names and shapes only); process.env by default. */
  env?: Env;
}

export interface Services {
  config: AppConfig;
  /** The process's JSON logger (src/logger.ts); the HTTP layer logs through a child of it. */
  logger: Logger;
  /** Where the log goes (LOG_DESTINATION, src/log-forward.ts): reopened on SIGHUP, flushed by close(). */
  logDestination: OpenedDestination;
  db: Db;
  /**
   * Migrations and schema changes (D376): PostgreSQL's DDL role when DATABASE_MIGRATION_URL is set, so that `db`'s
   * role may hold only SELECT, INSERT, UPDATE and DELETE; otherwise `db` itself.
   */
  ddl: Db;
  dialect: Dialect;
  now: () => number;
  /** Counters and flags that may be lost: Redis when configured, else the database. */
  shared: SharedState;
  /** Counters and flags a guarantee rests on (failed attempts, pseudo-locks): always the database. */
  durable: SharedState;
  /** Whether the database can write (full or read-only disk); for /readyz. */
  storage: StorageHealth;
  /** What /readyz reports. */
  readiness: ReadinessProbe;
  settings: SettingsStore;
  /** The secret store (DATA-1): named third-party credentials, write-only; the settings' write-only fields live here. */
  secrets: SecretStore;
  /** Encrypted request bodies are good for one request (EDGE-6): the tags seen, in shared state. */
  transportReplay: ReplayGuard;
  /** Backups (DATA-2): made on demand and on schedule, listed, pruned by retention. */
  backups: BackupService;
  securityLog: SecurityLog;
  /** The record audit log, the chain's verification and its checkpoints. */
  audit: AuditService;
  /** Audit log retention (the `auditLog` area): run now, or daily by schedule (one instance a day). */
  auditRetention: AuditRetention;
  hasher: PasswordHasher;
  keys: KeyRing;
  tokens: TokenService;
  sessions: SessionService;
  /** The ways of proving identity; each ends in `sessions.create`. */
  credentials: { password: PasswordCredential; passkey: PasskeyCredential };
  users: UserService;
  /** User administration through the API: the rules that depend on who administers. */
  userAdmin: UserAdministration;
  apiKeys: ApiKeyService;
  lockout: LockoutService;
  locks: AccountLocks;
  spread: SpreadDetector;
  ipRules: IpRuleService;
  rateLimiter: RateLimiter;
  collections: CollectionRegistry;
  access: AccessStore;
  records: RecordService;
  /** Private files (DATA-3): their bytes, scan states and sweep, signed links; reached through `records` for access. */
  files: FileService;
  /** GDPR policies and erasure requests (AUDIT-5). */
  privacy: PrivacyService;
  /** Runs due GDPR policies; tests call `runDue()` themselves. */
  privacyScheduler: PrivacyScheduler;
  passwordPolicy: PasswordPolicyService;
  passwordReset: PasswordResetService;
  /** `palisade doctor` (OPS-2): the deployment against the pre-deployment checklist. */
  doctor: Doctor;
  /** Prometheus metrics, served at /metrics behind METRICS_TOKEN or METRICS_ALLOW. */
  metrics: Metrics;
  /** Bot checks on sign-in and forgot-password (AUTH-15). */
  botCheck: BotCheckService;
  /** Second factors (AUTH-12): the sign-in's second step, enrolment, removal, resets. */
  mfa: MfaService;
  /** IP as a factor (AUTH-12): trusted addresses, their list and forgetting. */
  trustedAddresses: TrustedAddresses;
  /** A user's own passkeys (AUTH-12): registration, list, rename, removal. */
  passkeys: PasskeyService;
  /** Single sign-on (AUTH-13): identity providers, links, the OIDC relying party; every sign-in ends in `sessions.create`. */
  sso: SsoService;
  /** Palisade as an OpenID Provider (AUTH-13): the registered clients, the provider under /oidc. */
  oidcProvider: OidcProviderService;
  mailer: Mailer;
  /** Mail and other work done after the answer; close() waits for it. */
  tasks: BackgroundTasks;
  close(): Promise<void>;
}

/** Opens storage, applies migrations and wires the services. Nothing here listens on a port. */
/**
 * What routes and the pipeline receive: the services without the storage handles. A route translates
 * HTTP and calls a service; it never reaches the database or the shared state itself.
 */
export type RouteServices = Omit<Services, 'db' | 'ddl' | 'durable' | 'shared' | 'storage' | 'secrets'> & {
  /** The secret store's administration only: no route can resolve a secret's value (DATA-1). */
  secrets: SecretAdmin;
};

/** The secret store's name of the S3 secret access key for backup copies. */
const S3_SECRET = 'backup.s3SecretAccessKey';

/** The secret store's name of the S3 secret access key of the file store. */
const FILES_S3_SECRET = 'files.s3SecretAccessKey';

/** The environment's S3 secret key when set, else the stored secret `name` (looked up at the first request). */
async function s3Secret(fromEnv: string | null, secrets: SecretStore, name: string, envVar: string): Promise<string> {
  if (fromEnv !== null) return fromEnv;
  const s = await secrets.resolve(name);
  if (s.state === 'set') return s.value;
  throw new Error(s.state === 'unset' ? `no S3 secret access key: set ${envVar} or the secret ${name}` : `the secret ${name} cannot be opened`);
}

/** Where a backup reads and a restore writes: the data directory, the database, and where the keys come from. */
export const backupTarget = (c: AppConfig): BackupTarget => ({
  dataDir: c.dataDir,
  // A restore and a verification rebuild tables: the DDL role's connection (D376).
  databaseUrl: c.databaseMigrationUrl ?? c.databaseUrl,
  databaseSchema: c.databaseSchema,
  appKey: c.appKey,
  appKeySource: c.appKeySource,
  secretsKeyFile: c.secrets.source === 'data-dir' ? c.secrets.file : null,
  filesDir: c.files.dir,
  filesInBucket: c.files.storage === 's3',
});

export async function createServices(opts: ServiceOptions): Promise<Services> {
  const { config } = opts;
  const now = opts.now ?? Date.now;
  // The log first, so that storage writes its SQL log (LOG_SQL) through it. Tests pass their own stream.
  const { logging } = config;
  const logDestination = opts.logStream
    ? openLogDestination({ kind: 'stdout' })
    : openLogDestination(logging.destination, {
        caFile: logging.syslogCaFile,
        clientCert: logging.syslogClientCert,
        facility: logging.syslogFacility,
        queueMax: logging.queueMax,
      });
  const logger = createLogger(config.logLevel, opts.logStream ?? logDestination.stream);
  let handle: Awaited<ReturnType<typeof openDb>>;
  // The DDL role's pool first: it makes a missing schema, which the data-only role could not (D376).
  let ddlHandle: Awaited<ReturnType<typeof openDb>> | null = null;
  let wroteThroughDdl: (() => void) | undefined;
  const closeDdl = async () => {
    await ddlHandle?.close();
  };
  try {
    if (config.databaseMigrationUrl !== null)
      ddlHandle = await openDb({
        databaseUrl: config.databaseMigrationUrl,
        dataDir: config.dataDir,
        poolMax: 2,
        urlName: 'DATABASE_MIGRATION_URL',
        // Its writes (schema changes, imports) withhold the server's change mark like the server's own (D453).
        onWrite: () => wroteThroughDdl?.(),
        pgSchema: opts.pgSchema ?? config.databaseSchema ?? undefined,
        sqlLog: logging.sql ? logger : undefined,
      });
    handle = await openDb({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolMax: config.dbPoolMax,
      urlName: 'DATABASE_URL',
      listen: config.databaseListen,
      pgSchema: opts.pgSchema ?? config.databaseSchema ?? undefined,
      sqlLog: logging.sql ? logger : undefined,
    });
    wroteThroughDdl = handle.wrote;
  } catch (e) {
    await closeDdl();
    await logDestination.close();
    throw e;
  }
  const ddl = ddlHandle?.db ?? handle.db;
  try {
    await migrate(ddl, handle.dialect);
    await ensureKey(handle.db, now());
  } catch (e) {
    await handle.close();
    await closeDdl();
    await logDestination.close();
    throw e;
  }
  const db = handle.db;
  // What instances cache (settings, the access model, collection definitions) is kept under version stamps (D360).
  const stamps = new StateStamps(db, undefined, undefined, handle.changeMark);
  // The database keeps what must survive a loss of Redis's data (issue 9); Redis, when configured,
  // the rest. A Redis that is down at start is not fatal: requests that need it answer 503 until it
  // is back.
  const durable = new DatabaseSharedState(db, now);
  let shared: SharedState = durable;
  if (config.redisUrl) {
    const redis = new RedisSharedState(config.redisUrl, opts.redisPrefix ?? 'palisade:', durable, config.redisTls);
    await redis.connected;
    shared = redis;
  }
  const securityLog = new SecurityLog(db, now);
  let secrets: SecretStore;
  try {
    secrets = await SecretStore.open({ db, dialect: handle.dialect, log: securityLog, now, config: config.secrets, stamps });
  } catch (e) {
    await handle.close();
    await closeDdl();
    await logDestination.close();
    throw e;
  }
  // The system log tells of each settings change: the area and the keys, never a value (write-only fields are secrets).
  const settings = new SettingsStore(
    db,
    securityLog,
    now,
    settingsSeeds(config),
    createSealer(config.appKey),
    (c) => logger.info({ event: 'system.settings_changed', area: c.area, keys: c.keys, actorId: c.actorId, audited: c.audited }, 'settings changed'),
    secrets,
    stamps,
  );
  // Write-only settings live in the secret store under `<area>.<field>`; values sealed in settings rows before it existed move in once.
  secrets.registerKnown([
    ...SETTINGS_AREAS.flatMap((a) => a.writeOnly.map((f) => ({ name: secretNameOf(a, f), usedBy: `settings ${a.key}.${f}` }))),
    ...(config.sms ? [{ name: SMS_PASSWORD_SECRET, usedBy: 'SMS gateway (else SMS_KANNEL_PASSWORD)' }] : []),
    ...(config.mail.smtpUrl ? [{ name: SMTP_PASSWORD_SECRET, usedBy: 'SMTP server (else the password in SMTP_URL)' }] : []),
    ...(config.backup.s3 ? [{ name: S3_SECRET, usedBy: 'backup copies to S3 (else BACKUP_S3_SECRET_ACCESS_KEY)' }] : []),
    ...(config.files.s3 ? [{ name: FILES_S3_SECRET, usedBy: 'the S3 file store (else FILES_S3_SECRET_ACCESS_KEY)' }] : []),
  ]);
  const movedSecrets = await settings.moveSealedSecrets(SETTINGS_AREAS);
  if (movedSecrets.length > 0) logger.info({ event: 'secrets.moved', names: movedSecrets }, 'sealed settings moved into the secret store');
  const hasher = new PasswordHasher(new HashQueue(config.hashConcurrency, config.hashQueueMax));
  const keys = new KeyRing(db, securityLog, config.appKey, now, opts.keyCacheMs);
  const tokens = new TokenService(keys, config.mail.publicUrl);
  const locks = new AccountLocks(db, durable, securityLog, now);
  const spread = new SpreadDetector(shared, settings, securityLog, now);
  const geoip = new GeoIp();
  const ipRules = new IpRuleService(db, settings, geoip, securityLog, now);
  const rateLimiter = new RateLimiter(shared, settings, now);
  const collections = new CollectionRegistry(db, securityLog, now, undefined, ddl);
  const access = new AccessStore(db, collections, securityLog, now);
  // Old change entries are shown under today's field rules: a field hidden, sensitive or removed since shows no values.
  const fieldsNow = async (name: string) => {
    const def = await collections.get(name);
    return def ? { secret: new Set(def.fields.filter(isSecretField).map((f) => f.name)), known: new Set(def.fields.map((f) => f.name)) } : null;
  };
  const trail = new AuditTrail(db, now, createSealer(config.appKey), subjectKeyDeriver(config.appKey), fieldsNow);
  const audit = new AuditService(db, trail, securityLog, createCheckpointSigner(config.appKey), now, handle.dialect);
  // Periodic signed checkpoints (AUDIT-6), each on the system log too, so that a SIEM keeps a copy.
  const stopCheckpoints = scheduleCheckpoints(audit, {
    intervalMs: config.audit.checkpointIntervalMs,
    file: config.audit.checkpointFile,
    onCheckpoint: (c) => logger.info({ event: 'audit.checkpoint', ...c }, 'audit checkpoint signed'),
    onError: (err) => logger.error({ event: 'system.error', task: 'audit checkpoint', err: errorSummary(err) }, 'audit checkpoint failed'),
  });
  // Audit retention (AUDIT-1): checked hourly, run once a day by whichever instance claims the day first.
  const auditRetention = new AuditRetention({
    db,
    trail: audit.trail,
    now,
    archiveDir: path.join(config.dataDir, 'audit-archive'),
    policy: async () => retentionPolicyOf(await settings.get(auditLogArea)),
    claims: durable,
  });
  const stopRetention = auditRetention.schedule({
    onRun: (r) => logger.info({ event: 'audit.retention', removed: Object.fromEntries(r.kinds.map((k) => [k.kind, k.removed])) }, 'audit retention ran'),
    onError: (err) => logger.error({ event: 'system.error', task: 'audit retention', err: errorSummary(err) }, 'audit retention failed'),
  });
  // Private files (DATA-3): quarantined until clamd clears them when FILES_SCANNER is set; swept every minute.
  const fileStore =
    config.files.storage === 's3' && config.files.s3
      ? new S3FileStore(
          config.files.dir,
          new S3Bucket(config.files.s3, () => s3Secret(config.files.s3!.secretAccessKey, secrets, FILES_S3_SECRET, 'FILES_S3_SECRET_ACCESS_KEY')),
        )
      : new DiskFileStore(config.files.dir);
  const files = new FileService({
    db,
    store: fileStore,
    scanner: config.files.scanner ? clamdScanner({ address: config.files.scanner, timeoutMs: config.files.scanTimeoutMs }) : null,
    config: config.files,
    log: securityLog,
    trail: audit.trail,
    registry: collections,
    spent: shared,
    background: (task, fn) => tasks.run(task, fn),
    appKey: config.appKey,
    now,
    onError: (task, err) => logger.error({ event: 'system.error', task, err: errorSummary(err) }, 'file task failed'),
  });
  collections.filesRemoved = (keys) => files.removeLater(keys);
  files.start();
  /**
   * SQLite: after a deletion that promises erasure has committed (an erasure request or a privacy policy's run, a user's
   * deletion, a dropped collection or a removed field), empties the write-ahead log, so that the earlier images of the
   * pages it changed go with it (D458, D462). Readers or writers that keep the log busy for five seconds leave it to the
   * checkpointing thread, which keeps trying; a scrub that fails outright (the thread could not start) is logged, never
   * the deletion's failure: that has committed.
   */
  const scrubLog = handle.scrub
    ? async (after: 'erasure' | 'user deletion' | 'schema deletion'): Promise<void> => {
        let done = false;
        try {
          done = await handle.scrub!();
        } catch (err) {
          logger.error({ event: 'system.error', task: 'database scrub', err: errorSummary(err) }, 'the write-ahead log could not be emptied');
        }
        if (!done) logger.warn({ event: 'db.scrub_incomplete', after }, 'the write-ahead log could not be emptied after a deletion');
      }
    : undefined;
  if (scrubLog) collections.deleted = () => scrubLog('schema deletion');
  const records = new RecordService(db, collections, access, securityLog, audit.trail, now, handle.dialect, files);
  const privacy = new PrivacyService(
    db,
    collections,
    securityLog,
    audit.trail,
    now,
    handle.dialect,
    config.appKey,
    scrubLog ? () => scrubLog('erasure') : undefined,
  );
  const privacyScheduler = new PrivacyScheduler(privacy, (err) =>
    logger.error({ event: 'system.error', task: 'privacy policies', err: errorSummary(err) }, 'privacy policies failed'),
  );
  privacyScheduler.start();
  const passwordPolicy = new PasswordPolicyService(db, settings, hasher, now);
  // Background failures (mail delivery) go to the log: the error's kind and message, never the mail.
  const tasks = new BackgroundTasks((task, err) => logger.error({ event: 'system.error', task, err: errorSummary(err) }, 'background task failed'));
  const mailer = createMailer({
    smtpUrl: config.mail.smtpUrl,
    from: config.mail.from,
    dataDir: config.dataDir,
    storedPassword: () => secrets.resolve(SMTP_PASSWORD_SECRET),
    tls: config.mail.tls,
  });
  const expiryGate = new ExpiryGate({ db, policy: passwordPolicy, log: securityLog, mailer, tasks, now, publicUrl: config.mail.publicUrl });
  // The mails that tell users about their accounts (changes, suspicious sign-ins): after the fact, never failing it.
  const notices = new AuthNotices({ db, settings, shared, mailer, tasks, now, warn: (detail, message) => logger.warn(detail, message) });
  // The second factor is asked for before the password expiry: a changed password needs both factors first.
  const mfaPolicy = new MfaPolicy(settings, (userId) => access.rolesOf(userId));
  const trustedAddresses = new TrustedAddresses({ db, settings, log: securityLog, policy: mfaPolicy, geoip, now });
  const mfaGate = new SecondFactorGate({ db, settings, log: securityLog, policy: mfaPolicy, now, trust: trustedAddresses, smsAvailable: config.sms !== null });
  const sessions = new SessionService(
    db,
    tokens,
    shared,
    settings,
    securityLog,
    now,
    config.appKey,
    config.renewalGrace,
    locks,
    [
      (user, method, ctx) => expiryGate.deadline(user, method, ctx),
      (user, method, ctx, asked) => mfaGate.check(user, method, ctx, asked),
      (user, method, ctx) => expiryGate.check(user, method, ctx),
    ],
    stamps,
  );
  sessions.creator.opened = (user, session, ctx) => notices.signedIn(user, session, ctx);
  const passwordReset = new PasswordResetService({
    db,
    shared: durable,
    settings,
    policy: passwordPolicy,
    hasher,
    sessions,
    locks,
    log: securityLog,
    mailer,
    tasks,
    now,
    publicUrl: config.mail.publicUrl,
    notices,
  });
  // LOCKOUT_MAIL_RESET: the locked user gets a reset link, sent by the system (no mail address: nothing to send).
  const lockout = new LockoutService(locks, durable, settings, now, async (userId, ctx) => {
    await passwordReset.sendLink(userId, 'admin_reset', { ...ctx, actor: SYSTEM_ACTOR }).catch((e: unknown) => {
      if (!(e instanceof AppError && e.code === 'LINK_NOT_SENDABLE')) throw e;
    });
  });
  lockout.failureSeen = (userId) => notices.failedAttempt(userId);
  const mfa = new MfaService({
    db,
    settings,
    log: securityLog,
    keys: new MfaKeys(config.appKey),
    policy: mfaPolicy,
    lockout,
    hasher,
    shared,
    mailer,
    sms: createSmsChannel(config.sms, () => secrets.resolve(SMS_PASSWORD_SECRET)),
    tasks,
    now,
    sessions,
    passkeys: config.passkeys,
    notices,
  });
  const botCheck = new BotCheckService({ settings, shared, durable, log: securityLog, now, appKey: config.appKey, outbound: config.outbound });
  const credentials = {
    password: new PasswordCredential(db, hasher, shared, securityLog, now, { lockout, spread, addressFailures: botCheck }),
    passkey: new PasskeyCredential({ db, log: securityLog, lockout, now }, config.passkeys),
  };
  // A new way into an account (a passkey, a linked provider) needs the current password, checked like a sign-in.
  const proveOwnPassword = async (user: UsersTable, password: string, ctx: EventContext): Promise<void> => {
    const proven = await credentials.password.prove({ identifier: user.username, password }, ctx);
    if (proven.id !== user.id) throw new AppError('INVALID_CREDENTIALS');
  };
  const passkeys = new PasskeyService({
    db,
    log: securityLog,
    now,
    config: config.passkeys,
    policy: mfaPolicy,
    provePassword: proveOwnPassword,
    notices,
  });
  const sso = new SsoService({
    db,
    log: securityLog,
    now,
    sessions,
    provePassword: proveOwnPassword,
    accountCheck: async (user) => {
      await clearAccount(user, locks);
    },
    defences: { lockout, spread, shared, addressFailures: botCheck },
    publicUrl: config.mail.publicUrl,
    outbound: config.outbound,
    // The client secrets live in the secret store; auth does not import it, so it gets these three functions.
    secrets: {
      write: (name, value, ctx, trx) => secrets.write(name, value, ctx, trx),
      value: async (name) => {
        const r = await secrets.resolve(name);
        return r.state === 'set' ? r.value : null;
      },
      isSet: async (name) => (await secrets.resolve(name)).state !== 'unset',
    },
  });
  const oidcProvider = new OidcProviderService({
    db,
    log: securityLog,
    now,
    publicUrl: config.mail.publicUrl,
    appKey: config.appKey,
    rolesOf: (userId) => access.rolesOf(userId),
    accountCheck: async (user) => {
      await clearAccount(user, locks);
    },
    warn: (msg, detail) => logger.warn(detail, msg),
    // Client secrets and signing keys live in the secret store; auth does not import it. One that no longer opens
    // (SECRETS_KEY changed) is an error, never "not set": the signing keys would be replaced without a word.
    secrets: {
      write: (name, value, ctx, trx) => secrets.write(name, value, ctx, trx),
      value: async (name) => {
        const r = await secrets.resolve(name);
        if (r.state === 'unreadable') throw new AppError('SECRETS_UNREADABLE', { names: [name] });
        return r.state === 'set' ? r.value : null;
      },
    },
  });
  const users = new UserService(
    db,
    hasher,
    sessions,
    securityLog,
    now,
    lockout,
    locks,
    passwordPolicy,
    async () => (await passwordReset.current()).adminMaySetPasswords,
  );
  users.beforeRemove = (trx, userId, ctx) => records.removeMember(trx, userId, ctx);
  if (scrubLog) users.removed = () => scrubLog('user deletion');
  // The old address learns of an email change (ASVS V7.5.1), the user of a password change (V6.3.7), in the background.
  users.emailChanged = (old, user, by) => notices.emailChanged(old, user, by);
  users.notices = notices;
  // Hidden sign-ins (AUDIT-1) hide ordinary users' only: anyone holding a system permission is always recorded.
  sessions.creator.privileged = async (user) => user.is_admin === 1 || (await access.principal(user, null)).permissions.length > 0;
  const apiKeys = new ApiKeyService(db, settings, shared, securityLog, now, stamps);
  const doctor = new Doctor({
    config,
    env: opts.env ?? process.env,
    db,
    dialect: handle.dialect,
    now,
    settings,
    apiKeys,
    securityLog,
    areas: SETTINGS_AREAS,
    backups: () => backups.status(),
    scannerReachable: () => files.scannerReachable(),
  });
  const metrics = await createMetrics(
    { hashQueue: () => hasher.queueDepth(), pool: handle.pool, sharedState: shared.kind, processMetrics: true },
    config.metrics !== null,
  );
  securityLog.observe = (type, outcome) => metrics.event(type, outcome);
  const backups = new BackupService({
    db,
    dialect: handle.dialect,
    snapshot: handle.snapshot,
    target: backupTarget(config),
    config: config.backup,
    log: securityLog,
    shared,
    s3: config.backup.s3
      ? new S3Copy(config.backup.s3, () => s3Secret(config.backup.s3!.secretAccessKey, secrets, S3_SECRET, 'BACKUP_S3_SECRET_ACCESS_KEY'))
      : null,
    now,
    version: version(),
    onError: (err) => logger.error({ event: 'system.error', task: 'scheduled backup', err: errorSummary(err) }, 'scheduled backup failed'),
  });
  // Rate windows are counted in process and sent to the shared state in the background (D350).
  rateLimiter.start({
    onError: (err) => logger.warn({ event: 'ratelimit.sync_failed', err: errorSummary(err) }, 'rate counts could not reach the shared state; retrying'),
    onRecovered: () => logger.info({ event: 'ratelimit.sync_recovered' }, 'rate counts reach the shared state again'),
  });
  return {
    backups,
    transportReplay: new ReplayGuard(shared),
    doctor,
    metrics,
    config,
    logger,
    logDestination,
    db,
    ddl,
    dialect: handle.dialect,
    now,
    shared,
    durable,
    storage: handle.storage,
    readiness: new ReadinessProbe(db, handle.storage, shared, now),
    settings,
    secrets,
    securityLog,
    audit,
    auditRetention,
    hasher,
    keys,
    tokens,
    sessions,
    credentials,
    users,
    userAdmin: new UserAdministration(users, passwordReset),
    apiKeys,
    lockout,
    locks,
    spread,
    ipRules,
    rateLimiter,
    collections,
    access,
    records,
    files,
    privacy,
    privacyScheduler,
    passwordPolicy,
    passwordReset,
    botCheck,
    mfa,
    trustedAddresses,
    passkeys,
    sso,
    oidcProvider,
    mailer,
    tasks,
    async close() {
      stopCheckpoints();
      stopRetention();
      await privacyScheduler.stop();
      await files.stop();
      if (fileStore instanceof S3FileStore) fileStore.close();
      await backups.stopSchedule();
      await tasks.drain();
      mailer.close();
      await rateLimiter.close();
      await shared.close();
      await handle.close();
      await closeDdl();
      await logDestination.close();
    },
  };
}

/**
 * First boot (AUTH-6): creates the root user when there is no user at all. Returns the
 * generated password when none was configured, for the caller to print exactly once.
 */
export async function ensureRootUser(s: Services): Promise<{ created: boolean; username: string; generatedPassword: string | null }> {
  const { initRoot } = s.config;
  if ((await s.users.count()) > 0) return { created: false, username: initRoot.username, generatedPassword: null };
  const password = initRoot.password ?? (await s.passwordPolicy.generate({ username: initRoot.username, email: initRoot.email }));
  // A generated password is a one-time password: changed at the first sign-in, and only for a short time (D366).
  await s.users.create(
    { username: initRoot.username, email: initRoot.email, password, isAdmin: true, mustChangePassword: !initRoot.password },
    { actor: SYSTEM_ACTOR },
  );
  return { created: true, username: initRoot.username, generatedPassword: initRoot.password ? null : password };
}
