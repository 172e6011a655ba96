#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { applySchema, exportSchema, parseSchemaFile } from '../records/schema-file.js';
import { ConfigError, loadConfig, type AppConfig } from '../app-config.js';
import { createServices, ensureRootUser, type Services } from '../services.js';
import { buildApp } from '../http/app.js';
import { closeRedirect, listenRedirect } from '../http/redirect-listener.js';
import { CLI_ACTOR } from '../audit/events.js';
import { ApiKeyUsage, apiKeyCommand } from './apikey.js';
import { AuditUsage, auditCommand } from './audit.js';
import { RecordsUsage, recordsCommand } from './records.js';
import { PrivacyUsage, privacyCommand } from './privacy.js';
import { SecretsUsage, secretsCommand } from './secrets.js';
import { SsoUsage, ssoCommand } from './sso.js';
import { OidcClientsUsage, oidcClientsCommand } from './oidc-clients.js';
import { ConfigTransferUsage, configTransferCommand } from './config-transfer.js';
import { announceListening, announceRootPassword } from './first-run.js';
import { AppError } from '../errors.js';
import { FULL_POWER } from '../access/principal.js';
import { redisPersistence } from '../shared-state/redis.js';
import { bootWarnings, doctorCommand } from './doctor.js';
import { version } from '../version.js';
import { grantStatements, roleOfUrl } from '../db/grants.js';
import { BackupUsage, backupCreate, backupList, backupRestore, backupVerify } from './backup.js';
import { FilesUsage, filesCommand } from './files.js';
import { installLastResort } from './last-resort.js';
import { IDENTITY_CHECKS, type IdentityCheckMethod } from '../auth/mfa/index.js';
import { toStdout, toStderr } from './out.js';

const USAGE = `usage: palisade <command>

  start                                   run the server
  migrate                                 apply database migrations
  config check                            validate the configuration and list every problem
  db grants --role R [--owner O]          print the PostgreSQL statements that make R (DATABASE_URL's role) data-only;
                                          O: the DDL role (default: DATABASE_MIGRATION_URL's user) (docs/database.md)
  config export [--format json|yaml] [--out FILE]
                                          print collections, access model, settings, IP rules and secret names (never values)
  config import FILE [--dry-run] [--prune]
                                          show the diff and apply it in one audited transaction (--dry-run: only the diff)
  user create --username U [--email E] [--admin] [--password-stdin]
  user set-password --username U [--password-stdin]
  user disable --username U
  user enable --username U
  user delete --username U
  user roles --username U --set R1,R2     replace a user's roles (--set "" removes all)
  user departments --username U --set D1  replace a user's departments (they carry roles)
  user unlock --username U                lift a lock (lockout or administrator)
  user mfa reset --username U --checked-by M --reference TEXT
                                          remove every second factor and recovery code of a user; ends their sessions;
                                          M is how you checked who asks (in_person, video_call, call_back,
                                          manager_confirmed, identity_document), TEXT where the evidence is kept
  sessions revoke --user U                end every session of a user
  sessions revoke --all                   end every session of every user (all must sign in again)
  schema apply FILE [--prune]             create collections, fields, roles, departments and grants from a JSON or YAML file
  schema export [--format json|yaml]      print the collections and the access model as a schema file
  files status                            the stored files (DATA-3) by state: clean, unscanned, quarantined, infected
  files scan                              run the scan sweep now (quarantined and unscanned files); exit 1 while some wait
  doctor [--json]                         check the deployment against the production checklist; exit 0 pass, 1 warnings, 2 failures
  keys rotate                             add a signing key; the previous one verifies until its tokens expire
  sso list                                the identity providers (AUTH-13): type, state, issuer, whether the client secret is set, the callback URL (OIDC: and the back-channel logout URL)
  sso add SLUG --file F                   create an identity provider from a JSON or YAML file (the API's body without slug; no secret in it)
  sso update SLUG --file F                change a provider with the fields in the file
  sso set-secret SLUG                     store the provider's client secret; read from standard input or a silent prompt
  sso remove SLUG                         delete a provider and its links (its users stay)
  sso link SLUG SUBJECT --username U      link a provider identity (its subject) to a user
  sso unlink SLUG SUBJECT --username U    remove that link
  oidc-clients list                       the clients of Palisade's OpenID Provider (AUTH-13) and the issuer
  oidc-clients add --file F               register a client from a JSON or YAML file (the admin API's body); its secret is printed once
  oidc-clients update ID --file F         change a client with the fields in the file
  oidc-clients rotate-secret ID           a new secret for a confidential client, printed once; the old one and its tokens stop working
  oidc-clients remove ID                  delete a client with its secret and what it was issued
  oidc-clients rotate-keys                new provider signing keys; the previous ones stay published
  secrets list                            list the secret store: names, set or not, updated at and by (never a value)
  secrets set NAME                        create or replace a secret; the value is read from standard input or a silent prompt
  secrets delete NAME                     delete a secret
  secrets rotate-key [--new-key-file F]   a new data key, every secret re-encrypted in one transaction (F: the new key, 0600, required with SECRETS_KEY/_FILE)
  backup create                           write an encrypted backup (database, keys in the data directory) to BACKUP_DIR, then apply retention
  backup list                             list the backups in BACKUP_DIR, newest first
  backup verify FILE [--passphrase-stdin] restore FILE into a scratch location and check its rows and audit chain; exit 1 if broken
  backup restore FILE [--force] [--passphrase-stdin]
                                          restore FILE into the configured (empty) data directory or database; --force replaces what is there
  apikey create --username U --name N --role R [--expires-in 30d|never] [--read-only] [--ip CIDR,...]
                                          create an API key (printed once) bound to a role the user holds
  apikey list [--username U]              list API keys (never the keys themselves); warns of keys that never expire
  apikey revoke --id ID                   revoke an API key at once
  records history|revision|diff|restore|status-times --as USER --collection C --id ID [--rev N] [--against N|current] [--fields F1,F2] [--field F]
                                          a record's revisions (list, show, compare, restore) and time in each status, with USER's grants
  audit verify [--checkpoints FILE]       walk the audit chain; exit 1 and name the first altered, removed or reordered entry
  audit checkpoint [--out FILE]           sign the chain's head now; with --out, append it to FILE (keep that file elsewhere)
  audit export [--kind K] [--collection C] [--since T] [--until T]
                                          print the record audit log as JSON Lines
  audit prune [--dry-run]                 remove audit entries past their retention (settings area auditLog) now
  privacy run --collection C --policy ID [--dry-run]
                                          run a GDPR policy now (a dry run only counts what it would change)
  privacy erase --collection C (--user U | --field F --value V) [--action anonymise|delete] [--dry-run]
                                          erase a data subject's records (U: a username or user id), their history with them

Passwords are read from standard input with --password-stdin, never from the command line;
without it a strong password is generated and printed once: a one-time password, to be changed at the first
sign-in within 72 hours.`;

class UsageError extends Error {}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function config(generateKey: boolean): AppConfig {
  const { config, warnings } = loadConfig(process.env, { generateKey });
  for (const w of warnings) toStderr(`palisade: warning: ${w}\n`);
  return config;
}

async function withServices<T>(fn: (s: Services) => Promise<T>): Promise<T> {
  const s = await createServices({ config: config(true) });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

async function userByName(s: Services, name: string | undefined) {
  if (!name) throw new UsageError('--username is required');
  const u = await s.users.findByName(name);
  if (!u) throw new UsageError(`no such user: ${name}`);
  return u;
}

async function start(): Promise<void> {
  const startedAt = Date.now();
  const s = await createServices({ config: config(true) });
  try {
    const root = await ensureRootUser(s);
    if (root.generatedPassword) announceRootPassword(root.username, root.generatedPassword, s.config.dataDir, process.stderr.isTTY === true);
  } catch (e) {
    if (!(e instanceof AppError && e.code === 'CONFLICT')) throw e; // another instance created it first
  }
  const app = await buildApp(s);
  // The system log (AUDIT-2): start and stop as lines of their own, with a stable `event`.
  let redirect: Server | null = null;
  const stop = async (signal: NodeJS.Signals | null, exitCode = 0) => {
    const stopping = Date.now();
    await Promise.all([app.close(), redirect === null ? undefined : closeRedirect(redirect)]);
    s.logger.info(
      { event: 'system.stop', signal, uptimeSeconds: Math.round((stopping - startedAt) / 1000), shutdownMs: Date.now() - stopping },
      'palisade stopped',
    );
    await s.close(); // last: it flushes the log destination
    process.exit(exitCode);
  };
  // A shutdown that fails still ends the process (exit 1), never leaves it half-closed.
  const stopOrFail = (signal: NodeJS.Signals) => stop(signal).catch(() => process.exit(1));
  process.once('SIGINT', stopOrFail);
  process.once('SIGTERM', stopOrFail);
  // What nothing else caught is logged; an uncaught exception stops the server (signal null, exit code 1).
  installLastResort(process, s.logger, (exitCode) => stop(null, exitCode));
  // SIGHUP: logrotate moved the file (the log is reopened under its name); a renewed TLS certificate is read again.
  process.on('SIGHUP', () => {
    if (s.config.logging.destination.kind === 'file') s.logDestination.reopen();
    app.reloadTls?.();
  });
  // The redirect port listens first: once the main port says it listens (the log line a supervisor waits for), both do.
  if (s.config.httpRedirectPort !== null) {
    await app.ready();
    redirect = await listenRedirect(app, s.config.host, s.config.httpRedirectPort);
  }
  await app.listen({ host: s.config.host, port: s.config.port });
  s.backups.startSchedule();
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : s.config.port;
  s.logger.info(
    {
      event: 'system.start',
      version: version(),
      node: process.version,
      dialect: s.dialect,
      listen: { host: s.config.host, port, ...(redirect === null ? {} : { redirectPort: s.config.httpRedirectPort }) },
      sharedState: s.config.redisUrl ? 'redis' : 'database',
      log: { destination: s.config.logging.destination.kind, sql: s.config.logging.sql },
      startMs: Date.now() - startedAt,
    },
    'palisade started',
  );
  announceListening(s.config.host, port, s.config.tls !== null);
  // The checklist at each start: whatever weakens this deployment is said in the log (palisade doctor for the whole report).
  bootWarnings(s).catch((e: unknown) =>
    s.logger.warn({ event: 'doctor.failed', reason: e instanceof Error ? e.message : 'error' }, 'deployment checks could not run'),
  );
}

export async function main(argv: string[]): Promise<number> {
  // Everything Palisade writes (database, key file, outbox) is private to its user.
  process.umask(0o077);
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      username: { type: 'string' },
      json: { type: 'boolean' },
      user: { type: 'string' },
      email: { type: 'string' },
      admin: { type: 'boolean' },
      'password-stdin': { type: 'boolean' },
      prune: { type: 'boolean' },
      format: { type: 'string' },
      file: { type: 'string' },
      set: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      'expires-in': { type: 'string' },
      'read-only': { type: 'boolean' },
      ip: { type: 'string' },
      id: { type: 'string' },
      checkpoints: { type: 'string' },
      as: { type: 'string' },
      rev: { type: 'string' },
      against: { type: 'string' },
      fields: { type: 'string' },
      out: { type: 'string' },
      kind: { type: 'string' },
      collection: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      'dry-run': { type: 'boolean' },
      policy: { type: 'string' },
      field: { type: 'string' },
      value: { type: 'string' },
      action: { type: 'string' },
      'new-key-file': { type: 'string' },
      owner: { type: 'string' },
      force: { type: 'boolean' },
      'passphrase-stdin': { type: 'boolean' },
      'checked-by': { type: 'string' },
      reference: { type: 'string' },
      all: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  // `schema apply FILE`: the file is an argument, not part of the command name.
  const cmd = positionals
    .slice(
      0,
      positionals[0] === 'schema' ||
        positionals[0] === 'secrets' ||
        positionals[0] === 'config' ||
        positionals[0] === 'backup' ||
        positionals[0] === 'sso' ||
        positionals[0] === 'oidc-clients'
        ? 2
        : positionals.length,
    )
    .join(' ');
  if (values.help || cmd === '') {
    toStdout(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  switch (cmd) {
    case 'start':
      await start();
      return -1; // keeps running
    case 'migrate':
      await withServices(async () => undefined);
      toStdout('migrations applied\n');
      return 0;
    case 'config check': {
      const c = config(false);
      toStdout(
        `configuration is valid: ${c.databaseUrl ? 'PostgreSQL' : `SQLite in ${c.dataDir}`}, ${c.redisUrl ? 'Redis' : 'database'} shared state, key from ${c.appKeySource === 'generated' ? 'the data directory' : 'APP_KEY'}\n`,
      );
      if (c.redisUrl) {
        // A warning, not a problem: what a guarantee rests on is in the database (docs/architecture.md).
        const p = await redisPersistence(c.redisUrl, c.redisTls);
        if (p.state === 'persistent') toStdout(`Redis persistence: ${p.detail}\n`);
        else if (p.state === 'none')
          toStderr(
            `palisade: warning: the configured Redis has no persistence (${p.detail}): a Redis restart forgets the rate-limit windows and the sign-in pause; renewal claims, failed-attempt counts, locks and revocations are kept in the database\n`,
          );
        else toStderr(`palisade: warning: Redis persistence could not be verified: ${p.detail}\n`);
      }
      return 0;
    }
    case 'db grants': {
      // Printed, not applied: the owner or a DBA runs them (docs/database.md). SQLite has no roles.
      const c = config(false);
      if (c.databaseUrl === null) throw new UsageError('db grants: embedded SQLite has no database roles (set DATABASE_URL for PostgreSQL)');
      const owner = values.owner ?? (c.databaseMigrationUrl ? roleOfUrl(c.databaseMigrationUrl) : null);
      if (!values.role || !owner)
        throw new UsageError("db grants needs --role (the requests' role) and --owner (unless DATABASE_MIGRATION_URL names its user)");
      if (values.role === owner) throw new UsageError('db grants: --role must not be the DDL role (the owner keeps every right on what it owns)');
      const schema = c.databaseSchema ?? 'public';
      toStdout(`${grantStatements({ schema, role: values.role, owner }).join('\n')}\n`);
      return 0;
    }
    case 'config export':
    case 'config import':
      return withServices((s) =>
        configTransferCommand(s, cmd.slice('config '.length), positionals[2], {
          format: values.format,
          out: values.out,
          dryRun: values['dry-run'],
          prune: values.prune,
        }),
      );
    case 'backup create':
      return withServices(backupCreate);
    case 'backup list':
      return backupList(config(false));
    case 'backup verify':
      return withServices((s) => backupVerify(s, positionals[2], values['passphrase-stdin'] === true, readStdin));
    case 'backup restore':
      return backupRestore(config(false), positionals[2], { force: values.force === true, fromStdin: values['passphrase-stdin'] === true }, readStdin);
    case 'user create':
      return withServices(async (s) => {
        if (!values.username) throw new UsageError('--username is required');
        const password = values['password-stdin'] ? await readStdin() : await s.passwordPolicy.generate({ username: values.username, email: values.email });
        const u = await s.users.create(
          // A generated password is one-time (D366); one typed on stdin is the operator's choice.
          { username: values.username, email: values.email ?? null, password, isAdmin: values.admin ?? false, mustChangePassword: !values['password-stdin'] },
          { actor: CLI_ACTOR },
        );
        toStdout(`created user ${u.username} (${u.id})\n`);
        if (!values['password-stdin']) toStdout(`generated password, shown once: ${password}\n`);
        return 0;
      });
    case 'user set-password':
      return withServices(async (s) => {
        const u = await userByName(s, values.username);
        const password = values['password-stdin'] ? await readStdin() : await s.passwordPolicy.generate({ username: u.username, email: u.email });
        await s.users.setPassword(u.id, password, { actor: CLI_ACTOR }, !values['password-stdin']);
        // The CLI is the recovery path of last resort (every administrator locked out): it lifts any lock.
        const unlocked = await s.locks.unlock(u.id, { actor: CLI_ACTOR });
        toStdout(`password set for ${u.username}; their sessions and API keys were ended${unlocked ? '; the account was unlocked' : ''}\n`);
        if (!values['password-stdin']) toStdout(`generated password, shown once: ${password}\n`);
        return 0;
      });
    case 'user mfa reset':
      return withServices(async (s) => {
        const u = await userByName(s, values.username);
        const method = values['checked-by'] ?? '';
        if (!(IDENTITY_CHECKS as readonly string[]).includes(method) || !values.reference) {
          toStderr(`say how you checked who asks: --checked-by ${IDENTITY_CHECKS.join('|')} --reference TEXT (a ticket or case number)\n`);
          return 2;
        }
        const { sessionsEnded } = await s.mfa.reset(u.id, { method: method as IdentityCheckMethod, reference: values.reference }, { actor: CLI_ACTOR });
        toStdout(`second factors of ${u.username} were reset; ${sessionsEnded} session(s) and every API key ended\n`);
        return 0;
      });
    case 'user unlock':
      return withServices(async (s) => {
        const u = await userByName(s, values.username);
        const was = await s.locks.unlock(u.id, { actor: CLI_ACTOR });
        toStdout(was ? `unlocked ${u.username}\n` : `${u.username} was not locked\n`);
        return 0;
      });
    case 'user enable':
    case 'user delete':
      return withServices(async (s) => {
        const u = await userByName(s, values.username);
        if (cmd === 'user delete') await s.users.remove(u.id, { actor: CLI_ACTOR });
        else await s.users.update(u.id, { status: 'active' }, { actor: CLI_ACTOR });
        toStdout(`${cmd === 'user delete' ? 'deleted' : 'enabled'} ${u.username}\n`);
        return 0;
      });
    case 'user roles':
    case 'user departments':
      return withServices(async (s) => {
        const u = await userByName(s, values.username);
        const list = (values.set ?? '')
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
        if (values.set === undefined) throw new UsageError(`${cmd} needs --set a,b (an empty --set "" removes all)`);
        if (cmd === 'user roles') await s.access.setUserRoles(u.id, list, FULL_POWER, { actor: CLI_ACTOR });
        else await s.access.setUserDepartments(u.id, list, FULL_POWER, { actor: CLI_ACTOR });
        toStdout(`${u.username}: ${cmd.slice(5)} ${list.join(', ') || 'none'}\n`);
        return 0;
      });
    case 'user disable':
      return withServices(async (s) => {
        const u = await userByName(s, values.username);
        await s.users.update(u.id, { status: 'disabled' }, { actor: CLI_ACTOR });
        toStdout(`disabled ${u.username}; their sessions were ended\n`);
        return 0;
      });
    case 'sessions revoke':
      return withServices(async (s) => {
        if (values.all && values.user !== undefined) throw new UsageError('sessions revoke takes --user U or --all, not both');
        if (values.all) {
          const n = await s.sessions.endAllSessions('revoked_by_cli', { actor: CLI_ACTOR });
          toStdout(`ended ${n} session(s) of all users\n`);
          return 0;
        }
        const u = await userByName(s, values.user);
        const n = await s.sessions.endUserSessions(u.id, 'revoked_by_cli', { actor: CLI_ACTOR });
        toStdout(`ended ${n} session(s) of ${u.username}\n`);
        return 0;
      });
    case 'schema apply':
      return withServices(async (s) => {
        const file = positionals[2] ?? values.file;
        if (!file) throw new UsageError('schema apply needs a FILE (JSON or YAML)');
        const parsed = parseSchemaFile(readFileSync(file, 'utf8'), file);
        const r = await applySchema(s.collections, s.access, parsed, { prune: values.prune ?? false }, { actor: CLI_ACTOR });
        toStdout(
          `created: ${r.created.join(', ') || 'none'}\nfields added: ${r.fieldsAdded.join(', ') || 'none'}\nfields removed: ${r.fieldsRemoved.join(', ') || 'none'}\n`,
        );
        if (r.access) {
          const a = r.access;
          toStdout(
            `roles: ${a.roles.join(', ') || 'none'}\ndepartments: ${a.departments.join(', ') || 'none'}\ngrants: ${a.grants}\nremoved: ${a.removed.join(', ') || 'none'}\n`,
          );
        }
        return 0;
      });
    case 'schema export':
      return withServices(async (s) => {
        const format = values.format ?? 'json';
        if (format !== 'json' && format !== 'yaml') throw new UsageError('--format is json or yaml');
        toStdout(exportSchema(await s.collections.list(), await s.access.exportModel(), format));
        return 0;
      });
    case 'apikey create':
    case 'apikey list':
    case 'apikey revoke':
      return withServices((s) => apiKeyCommand(s, cmd.slice('apikey '.length), values));
    case 'records history':
    case 'records revision':
    case 'records diff':
    case 'records restore':
    case 'records status-times':
      return withServices((s) => recordsCommand(s, cmd.slice('records '.length), values));
    case 'audit verify':
    case 'audit checkpoint':
    case 'audit export':
    case 'audit prune':
      return withServices((s) => auditCommand(s, cmd.slice('audit '.length), values));
    case 'privacy run':
    case 'privacy erase':
      return withServices((s) => privacyCommand(s, cmd.slice('privacy '.length), values));
    case 'doctor':
      return withServices((s) => doctorCommand(s, values.json === true));
    case 'files status':
    case 'files scan':
      return withServices((s) => filesCommand(s, cmd.slice('files '.length)));
    case 'secrets list':
    case 'secrets set':
    case 'secrets delete':
    case 'secrets rotate-key':
      // A value on the command line would be visible to every user of the machine (ps, shell history).
      if (positionals.length > 3) throw new UsageError('secrets: a value is read from standard input or a prompt, never from the command line');
      return withServices((s) => secretsCommand(s, cmd.slice('secrets '.length), positionals[2], { newKeyFile: values['new-key-file'] }));
    case 'sso list':
    case 'sso add':
    case 'sso update':
    case 'sso set-secret':
    case 'sso remove':
    case 'sso link':
    case 'sso unlink':
      // A secret on the command line would be visible to every user of the machine.
      if (cmd === 'sso set-secret' && positionals.length > 3)
        throw new UsageError('sso set-secret: the secret is read from standard input or a prompt, never from the command line');
      return withServices((s) => ssoCommand(s, cmd.slice('sso '.length), positionals.slice(2), { file: values.file, username: values.username }));
    case 'oidc-clients list':
    case 'oidc-clients add':
    case 'oidc-clients update':
    case 'oidc-clients rotate-secret':
    case 'oidc-clients remove':
    case 'oidc-clients rotate-keys':
      return withServices((s) => oidcClientsCommand(s, cmd.slice('oidc-clients '.length), positionals.slice(2), { file: values.file }));
    case 'keys rotate':
      return withServices(async (s) => {
        const r = await s.keys.rotate({ actor: CLI_ACTOR });
        toStdout(`new signing key ${r.kid}; retired ${r.retired.join(', ') || 'none'} (they verify until their tokens can no longer be renewed)\n`);
        return 0;
      });
    default:
      throw new UsageError(`unknown command: ${cmd}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (e: unknown) => {
    if (e instanceof ConfigError) toStderr(`palisade: ${e.message}\n`);
    else if (
      e instanceof UsageError ||
      e instanceof ApiKeyUsage ||
      e instanceof AuditUsage ||
      e instanceof PrivacyUsage ||
      e instanceof RecordsUsage ||
      e instanceof SecretsUsage ||
      e instanceof SsoUsage ||
      e instanceof OidcClientsUsage ||
      e instanceof ConfigTransferUsage ||
      e instanceof BackupUsage ||
      e instanceof FilesUsage
    )
      toStderr(`palisade: ${e.message}\n\n${USAGE}\n`);
    else if (e instanceof AppError) {
      const problems = (e.details as { problems?: unknown } | undefined)?.problems;
      const detail = Array.isArray(problems) ? `\n  - ${problems.map(String).join('\n  - ')}` : e.details ? ` ${JSON.stringify(e.details)}` : '';
      toStderr(`palisade: ${e.code}: ${e.message}${detail}\n`);
    } else toStderr(`palisade: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(
      e instanceof UsageError ||
        e instanceof ApiKeyUsage ||
        e instanceof AuditUsage ||
        e instanceof PrivacyUsage ||
        e instanceof RecordsUsage ||
        e instanceof SecretsUsage ||
        e instanceof SsoUsage ||
        e instanceof OidcClientsUsage ||
        e instanceof ConfigTransferUsage ||
        e instanceof BackupUsage ||
        e instanceof FilesUsage
        ? 2
        : 1,
    );
  },
);
