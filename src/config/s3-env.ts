/** The variables of an S3-compatible bucket, for backups (`BACKUP_S3_*`) and the file store (`FILES_S3_*`). */
import { boolVar, secretVar, type Env } from './env.js';
import type { S3Target } from '../util/s3.js';
import { plainConnection } from './plaintext.js';
import { s3ClientTls } from './client-certs.js';

export function s3TargetOf(env: Env, v: 'BACKUP_S3' | 'FILES_S3', defaultPrefix: string, problems: string[], warnings: string[]): S3Target | null {
  const bucket = env[`${v}_BUCKET`] || null;
  const secret = secretVar(env, `${v}_SECRET_ACCESS_KEY`, problems);
  if (bucket === null) {
    for (const n of ['ENDPOINT', 'ACCESS_KEY_ID', 'PREFIX', 'TLS_CA', 'TLS_CERT', 'TLS_KEY'])
      if (env[`${v}_${n}`]) problems.push(`${v}_${n} needs ${v}_BUCKET`);
    if (secret.value !== undefined) problems.push(`${v}_SECRET_ACCESS_KEY needs ${v}_BUCKET`);
    return null;
  }
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) problems.push(`${v}_BUCKET is not a valid bucket name`);
  const endpoint = env[`${v}_ENDPOINT`] || null;
  if (endpoint !== null) {
    let u: URL | null = null;
    try {
      u = new URL(endpoint);
    } catch {
      /* below */
    }
    if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password)
      problems.push(`${v}_ENDPOINT is an http(s):// URL without credentials`);
    else if (u.protocol === 'http:') plainConnection(env, 's3', `${v}_ENDPOINT`, u.hostname, 'use an https:// endpoint', problems, warnings);
  }
  const accessKeyId = env[`${v}_ACCESS_KEY_ID`] || '';
  if (accessKeyId === '') problems.push(`${v}_BUCKET needs ${v}_ACCESS_KEY_ID`);
  const prefix = env[`${v}_PREFIX`] ?? defaultPrefix;
  if (prefix.length > 200 || /(^|\/)\.\.?(\/|$)/.test(prefix) || prefix.startsWith('/')) problems.push(`${v}_PREFIX is a relative key prefix`);
  return {
    bucket,
    endpoint,
    region: env[`${v}_REGION`] || 'us-east-1',
    prefix: prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`,
    accessKeyId,
    secretAccessKey: secret.value ?? null,
    forcePathStyle: boolVar(env, `${v}_FORCE_PATH_STYLE`, problems, endpoint !== null),
    tls: s3ClientTls(v === 'BACKUP_S3' ? 'BACKUP' : 'FILES', env, endpoint, problems, warnings),
  };
}
