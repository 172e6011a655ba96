import { loadConfig as load, type AreaValues, type Config, type LoadOptions, type LoadResult } from './config/index.js';
import type { Env } from './config/env.js';
import { tokenPolicyArea } from './auth/token-policy.js';
import { lockoutArea, spreadArea } from './auth/lockout-settings.js';
import { passwordPolicyArea } from './auth/password-policy/schema.js';
import { evaluatePassword } from './auth/password-policy/rules.js';
import { passwordResetArea } from './auth/reset/settings.js';
import { botCheckArea } from './auth/bot-check/settings.js';
import { rateLimitArea } from './edge/rate-limit.js';
import { geoArea } from './edge/ip-rules.js';
import { apiKeyArea } from './auth/api-keys/settings.js';
import { mfaArea } from './auth/mfa/settings.js';
import { mfaIpArea } from './auth/mfa/trusted-ip-settings.js';
import { auditLogArea } from './audit-settings.js';
import { clientIpEnv, type ClientIpConfig } from './edge/client-ip-env.js';
import { corsEnv, type CorsConfig } from './edge/cors-env.js';
import { httpsEnv, type HttpsConfig } from './edge/https-env.js';
import { transportEnv, type TransportConfig } from './edge/transport-env.js';
import { metricsEnv, type MetricsConfig } from './ops/metrics-env.js';
import { mailEnv, type MailConfig } from './mail/env.js';
import { auditEnv, type AuditConfig } from './audit-env.js';
import { passkeyEnv, type PasskeyConfig } from './auth/passkeys/env.js';
import { smsEnv, type SmsConfig } from './sms/env.js';
import { logEnv, type LoggingConfig } from './log-env.js';
import { secretsEnv, type SecretsConfig } from './secrets/env.js';
import { backupEnv, type BackupConfig } from './backup/env.js';
import { filesEnv, type FilesConfig } from './files/env.js';
import { memoryEnv, type MemoryConfig } from './ops/memory-encryption.js';
import { isPlainAddress } from './mail/address.js';
import { hostOf } from './config/outbound.js';
import { postgresTarget } from './config/plaintext.js';

export { ConfigError, type Env } from './config/index.js';

/**
 * Every settings area, each declared once in its feature folder (schema with bounds and defaults, the
 * env variables that seed it). Config loading seeds them from the environment; the settings store
 * starts from those values; the admin routes serve and patch them.
 */
export const SETTINGS_AREAS = [
  tokenPolicyArea,
  lockoutArea,
  spreadArea,
  passwordPolicyArea,
  passwordResetArea,
  rateLimitArea,
  geoArea,
  apiKeyArea,
  botCheckArea,
  mfaArea,
  mfaIpArea,
  auditLogArea,
] as const;

/** The whole configuration: config's own part, the env-seeded value of every area, client IP resolution, mail, passkeys' relying party, the SMS channel. */
export type AppConfig = Config &
  AreaValues<typeof SETTINGS_AREAS> &
  ClientIpConfig &
  HttpsConfig &
  TransportConfig &
  MetricsConfig &
  MemoryConfig & {
    readonly mail: MailConfig;
    readonly passkeys: PasskeyConfig | null;
    readonly sms: SmsConfig | null;
    readonly logging: LoggingConfig;
    readonly audit: AuditConfig;
    readonly cors: CorsConfig;
    readonly secrets: SecretsConfig;
    readonly backup: BackupConfig;
    readonly files: FilesConfig;
  };

/** The root user's email follows the one address rule of the API. */
function rootEmailCheck(c: Config): string[] {
  const { email } = c.initRoot;
  return email !== null && !isPlainAddress(email)
    ? ['INIT_ROOT_EMAIL must be one plain address such as admin@example.org (no display name, list or quoted part)']
    : [];
}

/** The root password set in the environment must meet the env-default password policy (AUTH-6). */
function rootPasswordCheck(c: Config & Record<string, unknown>): string[] {
  const { password, username, email } = c.initRoot;
  if (password === null) return [];
  const failed = evaluatePassword(password, (c as unknown as AppConfig).passwordPolicy, { username, email }).map((f) => f.code);
  return failed.length > 0 ? [`INIT_ROOT_PASSWORD does not meet the password policy: ${failed.join(', ')}`] : [];
}

const queryHost = (url: string): string | null => {
  try {
    return new URL(url).searchParams.get('host');
  } catch {
    return null;
  }
};

/** With OUTBOUND_ALLOW set, every destination the environment names must be on it (D435). */
function outboundCheck(c: Config): string[] {
  const a = c as AppConfig;
  const list = a.outbound;
  if (list === null) return [];
  const scanner = a.files.scanner;
  const destinations: Array<[string, string | null]> = [
    ['DATABASE_URL', a.databaseUrl === null ? null : postgresTarget(a.databaseUrl, {}).host],
    ['DATABASE_MIGRATION_URL', a.databaseMigrationUrl === null ? null : postgresTarget(a.databaseMigrationUrl, {}).host],
    // ioredis takes a host given in the query over the URL's.
    ['REDIS_URL', a.redisUrl === null ? null : (queryHost(a.redisUrl) ?? hostOf(a.redisUrl))],
    ['SMTP_URL', a.mail.smtpUrl === null ? null : hostOf(a.mail.smtpUrl)],
    ['SMS_KANNEL_URL', a.sms === null ? null : hostOf(a.sms.kannel.url)],
    // Without an endpoint the SDK reaches AWS: its regional S3 host must be on the list.
    ['BACKUP_S3_ENDPOINT', a.backup.s3 ? (a.backup.s3.endpoint ? hostOf(a.backup.s3.endpoint) : `s3.${a.backup.s3.region}.amazonaws.com`) : null],
    ['FILES_S3_ENDPOINT', a.files.s3 ? (a.files.s3.endpoint ? hostOf(a.files.s3.endpoint) : `s3.${a.files.s3.region}.amazonaws.com`) : null],
    ['LOG_DESTINATION', a.logging.destination.kind === 'syslog' ? a.logging.destination.host : null],
    ['FILES_SCANNER', scanner !== null && 'host' in scanner ? scanner.host : null],
  ];
  return destinations
    .filter((d): d is [string, string] => d[1] !== null && d[1] !== '' && !list.allows(d[1]))
    .map(([name, host]) => `${name} reaches ${host}, which is not in OUTBOUND_ALLOW`);
}

/** Validates the whole environment at once; throws ConfigError listing every problem. */
export function loadConfig(env: Env, opts: LoadOptions): LoadResult<AppConfig> {
  return load<AppConfig>(env, opts, {
    areas: SETTINGS_AREAS,
    sections: [
      clientIpEnv,
      httpsEnv,
      metricsEnv,
      mailEnv,
      passkeyEnv,
      smsEnv,
      logEnv,
      auditEnv,
      corsEnv,
      transportEnv,
      secretsEnv,
      backupEnv,
      filesEnv,
      memoryEnv,
    ],
    checks: [rootEmailCheck, rootPasswordCheck, outboundCheck],
  });
}

/** The env-seeded value of each area by key, for the settings store. */
export function settingsSeeds(config: AppConfig): Record<string, object> {
  return Object.fromEntries(SETTINGS_AREAS.map((a) => [a.key, config[a.key]]));
}
