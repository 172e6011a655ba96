// Connections to other hosts go over TLS (D433, ASVS V12.3.1, V12.3.3): a service reached in clear on another host
// stops the server at start (a configuration problem naming the variable and the fix) unless ALLOW_PLAINTEXT names
// that service; this host (loopback, a Unix socket) is never a network crossing.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig, ConfigError } from '../../src/app-config.js';
import { isThisHost } from '../../src/config/plaintext.js';

type Env = Record<string, string>;
const TMP_ROOT = mkdtempSync(path.join(tmpdir(), 'palisade-plain-'));
after(() => rmSync(TMP_ROOT, { recursive: true, force: true }));
const BASE = (): Env => ({ DATA_DIR: mkdtempSync(path.join(TMP_ROOT, 'd-')), APP_KEY: randomBytes(32).toString('base64url') });
const PASS = 'Bucket-secret-value-12345';
/** One plain connection per service, on another host, and the same service over TLS. */
const CASES: Array<{ service: string; variable: RegExp; plain: Env; tls: Env; local: Env }> = [
  {
    service: 'database',
    variable: /DATABASE_URL reaches db\.internal without TLS/,
    plain: { DATABASE_URL: 'postgres://app@db.internal/x' },
    tls: { DATABASE_URL: 'postgres://app@db.internal/x?sslmode=verify-full' },
    local: { DATABASE_URL: 'postgres://app@127.0.0.1/x' },
  },
  {
    service: 'database',
    variable: /DATABASE_URL reaches db\.internal without TLS/,
    plain: { DATABASE_URL: 'postgres://app@db.internal/x?sslmode=disable' },
    tls: { DATABASE_URL: 'postgres://app@db.internal/x?ssl=true' },
    local: { DATABASE_URL: 'postgres://app@localhost/x?sslmode=disable' },
  },
  {
    service: 'database',
    variable: /DATABASE_URL reaches db\.internal without TLS/,
    plain: { DATABASE_URL: 'postgres://app@localhost/x?host=db.internal' },
    tls: { DATABASE_URL: 'postgres://app@localhost/x?host=db.internal&sslmode=require' },
    local: { DATABASE_URL: 'postgres://app@db.internal/x?host=%2Frun%2Fpostgresql' },
  },
  {
    service: 'database',
    variable: /DATABASE_URL reaches db\.internal without TLS/,
    plain: { DATABASE_URL: 'postgres://app@db.internal/x?uselibpqcompat=true&sslmode=require' },
    tls: { DATABASE_URL: 'postgres://app@db.internal/x?sslmode=disable&sslmode=verify-full' },
    local: { DATABASE_URL: 'postgres://app@[::1]/x' },
  },
  {
    service: 'redis',
    variable: /REDIS_URL reaches cache\.internal without TLS/,
    plain: { REDIS_URL: 'redis://:pw@cache.internal:6379' },
    tls: { REDIS_URL: 'rediss://:pw@cache.internal:6379' },
    local: { REDIS_URL: 'redis://127.0.0.1:6379' },
  },
  {
    service: 'sms',
    variable: /SMS_KANNEL_URL reaches sms\.internal without TLS/,
    plain: { SMS_KANNEL_URL: 'http://sms.internal:13013/cgi-bin/sendsms', SMS_KANNEL_USER: 'u', SMS_KANNEL_PASSWORD: 'p', SMS_FROM: 'Palisade' },
    tls: { SMS_KANNEL_URL: 'https://sms.internal/cgi-bin/sendsms', SMS_KANNEL_USER: 'u', SMS_KANNEL_PASSWORD: 'p', SMS_FROM: 'Palisade' },
    local: { SMS_KANNEL_URL: 'http://127.0.0.1:13013/cgi-bin/sendsms', SMS_KANNEL_USER: 'u', SMS_KANNEL_PASSWORD: 'p', SMS_FROM: 'Palisade' },
  },
  {
    service: 's3',
    variable: /BACKUP_S3_ENDPOINT reaches minio\.internal without TLS/,
    plain: { BACKUP_S3_BUCKET: 'backups', BACKUP_S3_ACCESS_KEY_ID: 'k', BACKUP_S3_SECRET_ACCESS_KEY: PASS, BACKUP_S3_ENDPOINT: 'http://minio.internal:9000' },
    tls: { BACKUP_S3_BUCKET: 'backups', BACKUP_S3_ACCESS_KEY_ID: 'k', BACKUP_S3_SECRET_ACCESS_KEY: PASS, BACKUP_S3_ENDPOINT: 'https://minio.internal' },
    local: { BACKUP_S3_BUCKET: 'backups', BACKUP_S3_ACCESS_KEY_ID: 'k', BACKUP_S3_SECRET_ACCESS_KEY: PASS, BACKUP_S3_ENDPOINT: 'http://127.0.0.1:9000' },
  },
  {
    service: 's3',
    variable: /FILES_S3_ENDPOINT reaches minio\.internal without TLS/,
    plain: {
      FILES_STORAGE: 's3',
      FILES_S3_BUCKET: 'files',
      FILES_S3_ACCESS_KEY_ID: 'k',
      FILES_S3_SECRET_ACCESS_KEY: PASS,
      FILES_S3_ENDPOINT: 'http://minio.internal',
    },
    tls: {
      FILES_STORAGE: 's3',
      FILES_S3_BUCKET: 'files',
      FILES_S3_ACCESS_KEY_ID: 'k',
      FILES_S3_SECRET_ACCESS_KEY: PASS,
      FILES_S3_ENDPOINT: 'https://minio.internal',
    },
    local: {
      FILES_STORAGE: 's3',
      FILES_S3_BUCKET: 'files',
      FILES_S3_ACCESS_KEY_ID: 'k',
      FILES_S3_SECRET_ACCESS_KEY: PASS,
      FILES_S3_ENDPOINT: 'http://[::1]:9000',
    },
  },
  {
    service: 'syslog',
    variable: /LOG_DESTINATION reaches siem\.internal without TLS/,
    plain: { LOG_DESTINATION: 'syslog+tcp://siem.internal:514' },
    tls: { LOG_DESTINATION: 'syslog+tls://siem.internal:6514' },
    local: { LOG_DESTINATION: 'syslog+tcp://127.0.0.1:514' },
  },
  {
    service: 'clamd',
    variable: /FILES_SCANNER reaches av\.internal without TLS/,
    plain: { FILES_SCANNER: 'clamd://av.internal:3310' },
    tls: { FILES_SCANNER: 'clamd:///run/clamav/clamd.ctl' },
    local: { FILES_SCANNER: 'clamd://127.0.0.1:3310' },
  },
];

function load(env: Env): { problems: string[]; warnings: string[] } {
  try {
    return { problems: [], warnings: loadConfig({ ...BASE(), ...env }, { generateKey: false }).warnings };
  } catch (e) {
    if (e instanceof ConfigError) return { problems: e.problems, warnings: [] };
    throw e;
  }
}

test('a plain connection to another host stops the start, naming the variable and the fix; TLS and this host start [ASVS V12.3.1, V12.3.3]', () => {
  for (const c of CASES) {
    const refused = load(c.plain);
    assert.ok(
      refused.problems.some((p) => c.variable.test(p) && p.includes(`ALLOW_PLAINTEXT=${c.service}`)),
      `${c.service}: ${refused.problems.join(' | ')}`,
    );
    for (const ok of [c.tls, c.local]) {
      const r = load(ok);
      assert.deepEqual(r.problems, [], `${c.service}: ${JSON.stringify(ok)}`);
      assert.ok(!r.warnings.some((w) => w.includes('without TLS')), `${c.service}: no warning for ${JSON.stringify(ok)}`);
    }
  }
});

test('ALLOW_PLAINTEXT names the services allowed in clear, one by one: they start with a warning, the others are still refused [ASVS V12.3.1]', () => {
  for (const c of CASES) {
    const allowed = load({ ...c.plain, ALLOW_PLAINTEXT: c.service });
    assert.deepEqual(allowed.problems, [], c.service);
    assert.ok(
      allowed.warnings.some((w) => c.variable.test(w)),
      `${c.service}: ${allowed.warnings.join(' | ')}`,
    );
    const other = CASES.find((x) => x.service !== c.service)!;
    assert.ok(
      load({ ...c.plain, ...other.plain, ALLOW_PLAINTEXT: c.service }).problems.some((p) => other.variable.test(p)),
      `${other.service} stays refused`,
    );
  }
  assert.ok(load({ ALLOW_PLAINTEXT: 'database,ftp' }).problems.some((p) => /ALLOW_PLAINTEXT names unknown services \(ftp\)/.test(p)));
});

test('this host is loopback or a socket, never a name that merely starts like one [ASVS V12.3.1]', () => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '::1', '[::1]', '::ffff:127.0.0.1', '/run/postgresql', ''])
    assert.equal(isThisHost(h), true, h);
  for (const h of ['127.0.0.1.evil.example', '127.999.0.1', 'localhost.evil.example', '10.0.0.1', '::ffff:10.0.0.1', '0.0.0.0', 'db.internal'])
    assert.equal(isThisHost(h), false, h);
});
