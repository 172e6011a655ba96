/**
 * The documentation the ASVS asks for, held to the code: docs/connections.md (what Palisade connects to, with its
 * limits, timeouts and retries; its expensive functions; its secrets and their rotation; its risky components and
 * dangerous parts) and docs/dependencies.md (update time frames), and the dependency inventory (package-lock.json).
 * Each test fails when the code gains something the page does not say (a new connection, secret, dependency or
 * dangerous module) or when a documented number changes in the code alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../helpers/cli.js';
import { loadConfig } from '../../src/app-config.js';
import { ERRORS } from '../../src/errors.js';
import { RATE_LIMIT_DEFAULTS } from '../../src/edge/rate-limit.js';

/** Reads files only: it runs once, in the first SQLite run, not again on PostgreSQL or Node.js 22. */
const once = {
  skip:
    (process.env.TEST_DB === 'postgres' && 'the documentation does not depend on the database') ||
    (process.env.PALISADE_TEST_REPEAT === '1' && 'the documentation does not depend on the Node.js running the tests'),
};

const read = (rel: string) => readFileSync(path.join(ROOT_DIR, rel), 'utf8');
const DOC = read('docs/connections.md');

/** The section of docs/connections.md under a `## ` heading. */
function section(title: string): string {
  const start = DOC.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `docs/connections.md has no "## ${title}"`);
  const end = DOC.indexOf('\n## ', start + 4);
  return DOC.slice(start, end === -1 ? undefined : end);
}

/** Every TypeScript file under src/ (relative paths), with its text. */
function sources(): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(path.join(ROOT_DIR, dir), { withFileTypes: true })) {
      const rel = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out.push([rel, read(rel)]);
    }
  };
  walk('src');
  return out;
}

/** The calls that open a connection to another system. */
const OUTBOUND =
  /\bfetch\(|new Redis\(|new pg\.(Pool|Client)\(|\.createTransport\(|new Client\(\{|new S3Client\(|\bnet\.(connect|createConnection)\(|\btls\.connect\(|client\.discovery\(|import \{[^}]*\bconnect\b[^}]*\} from 'node:(net|tls)'/;

test(
  'communication needs: every source file that opens a connection to another system is named, with its limits, timeouts and retries [ASVS V13.1.1, V13.1.2, V13.1.3]',
  once,
  () => {
    const table = section('Outbound connections');
    const opening = sources()
      .filter(([file, text]) => !file.startsWith('src/client/') && OUTBOUND.test(text))
      .map(([file]) => file);
    assert.ok(opening.length >= 11, `found only ${opening.join(', ')}: the pattern no longer finds the clients`);
    const missing = opening.filter((f) => !table.includes(`\`${f}\``));
    assert.deepEqual(missing, [], `connections not documented in docs/connections.md: ${missing.join(', ')}`);
    // Each row says how many connections, which timeouts, which retries, and what happens at the limit.
    const header = table.split('\n').find((l) => l.startsWith('| Service |'));
    assert.equal(header, '| Service | Code | Destination | Connections at most | Timeouts | Retries | At the limit, or when it fails |');
    for (const row of table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| Service') && !l.startsWith('|---'))) {
      const cells = row.split(' | ');
      assert.equal(cells.length, 7, `a row with ${cells.length} cells: ${row}`);
    }
    // Who can choose a destination: nobody but the operator and administrators.
    assert.match(table, /No end user can make Palisade connect to an address they choose/);
  },
);

/** [the file, what the code says, what the page says]: a number changed on one side only fails. */
const NUMBERS: Array<[string, RegExp, string]> = [
  ['src/db/index.ts', /connectionTimeoutMillis: 2000,/, 'connect or wait for a free client 2 s'],
  ['src/db/index.ts', /statement_timeout: 15000,/, '`statement_timeout` 15 s'],
  ['src/db/index.ts', /query_timeout: 20000,/, 'client-side query timeout 20 s'],
  ['src/db/index.ts', /idleTimeoutMillis: 30000,/, 'idle clients closed after 30 s'],
  ['src/records/transaction.ts', /const ATTEMPTS = 3;/, 'at most 3 attempts'],
  ['src/shared-state/redis.ts', /const COMMAND_TIMEOUT_MS = 800;/, 'each command 800 ms'],
  ['src/shared-state/redis.ts', /connectTimeout: 1000,/, 'connect 1 s'],
  [
    'src/shared-state/redis.ts',
    /retryStrategy: \(times: number\) => Math\.min\(100 \* times, 1000\)/,
    'reconnects after 100 ms, growing by 100 ms to at most 1 s',
  ],
  ['src/shared-state/redis.ts', /new CircuitBreaker\(\{ threshold: 2, cooldownMs: 1000 \}\)/, 'after 2 failures in a row a breaker answers at once for 1 s'],
  ['src/mail/index.ts', /connectionTimeout: 10_000,\s+greetingTimeout: 10_000,\s+socketTimeout: 30_000/, 'connect 10 s, greeting 10 s, socket silence 30 s'],
  ['src/sms/kannel.ts', /new CircuitBreaker\(\{ threshold: 3, cooldownMs: 10_000 \}\)/, 'after 3 outages in a row a breaker answers at once for 10 s'],
  ['src/sms/kannel.ts', /redirect: 'error'/, 'one request per message, redirects refused'],
  [
    'src/auth/bot-check/recaptcha.ts',
    /new CircuitBreaker\(\{ threshold: 3, cooldownMs: 10_000 \}\)/,
    'after 3 failures in a row a breaker answers at once for 10 s',
  ],
  ['src/auth/bot-check/recaptcha.ts', /redirect: 'error'/, 'one request per checked sign-in, redirects refused'],
  ['src/auth/sso/oidc.ts', /const TIMEOUT_SECONDS = 5;/, 'each request (discovery, token, keys, userinfo) 5 s'],
  ['src/auth/sso/oidc.ts', /const DISCOVERY_TTL_MS = 10 \* 60_000;/, 'a discovery is reused 10 min'],
  ['src/auth/sso/oidc.ts', /const FAILED_DISCOVERY_TTL_MS = 30_000;/, 'a failed one remembered 30 s'],
  ['src/auth/sso/ldap/settings.ts', /connectTimeoutMs: 5000,\s+operationTimeoutMs: 5000,/, 'connect 5 s, each operation 5 s'],
  ['src/auth/sso/cas/settings.ts', /timeoutMs: 5000,/, 'setting `timeoutMs` (default 5000 ms)'],
  ['src/auth/sso/cas/index.ts', /redirect: 'error'/, 'one ticket validation per sign-in, redirects refused'],
  ['src/util/s3.ts', /const CONNECT_MS = 5_000;/, 'connect 5 s'],
  ['src/util/s3.ts', /const REQUEST_MS = 10 \* 60_000;/, 'each request 10 min'],
  ['src/util/s3.ts', /maxAttempts: 2,/, 'at most 2 attempts'],
  ['src/files/service.ts', /const MAX_SCAN_ATTEMPTS = 8;/, 'at most 8 times'],
  ['src/log-forward.ts', /this\.backoff = o\.backoffMinMs \?\? 200;/, 'back-off from 200 ms'],
  ['src/log-forward.ts', /this\.o\.backoffMaxMs \?\? 30_000/, 'doubling to 30 s'],
  ['src/log-forward.ts', /this\.o\.stallMs \?\? 30_000/, 'a stalled connection is dropped after 30 s'],
  ['src/log-env.ts', /intVar\(env, 'LOG_QUEUE_MAX', 10_000,/, '`LOG_QUEUE_MAX` (default 10 000)'],
  ['src/sms/env.ts', /intVar\(env, 'SMS_TIMEOUT_MS', 3000,/, '`SMS_TIMEOUT_MS` (default 3000 ms)'],
  // The schedule the doctor's secrets-age check applies is the one the secrets table gives.
  [
    'src/doctor/index.ts',
    /ROTATE_AFTER_DAYS[^=]*= \{ 'smtp\.password': 90, 'sms\.kannelPassword': 90 \};/,
    '| `SMTP_URL` password (or `smtp.password` in the store) | mail | every 90 days |',
  ],
  [
    'src/doctor/index.ts',
    /ROTATE_AFTER_DAYS[^=]*= \{ 'smtp\.password': 90, 'sms\.kannelPassword': 90 \};/,
    '(or `sms.kannelPassword` in the store) | the SMS gateway | every 90 days |',
  ],
  ['src/doctor/index.ts', /export const ROTATE_DEFAULT_DAYS = 365;/, '| seals the secret store | yearly |'],
];

test('connection limits, timeouts and retries: the documented numbers are the code’s [ASVS V13.1.2, V13.1.3, V13.2.6]', once, () => {
  const wrong: string[] = [];
  for (const [file, code, doc] of NUMBERS) {
    if (!code.test(read(file))) wrong.push(`${file} no longer says ${code}`);
    if (!DOC.includes(doc)) wrong.push(`docs/connections.md no longer says "${doc}"`);
  }
  assert.deepEqual(wrong, []);
  // The defaults that come from configuration, read through the configuration itself.
  const { config } = loadConfig(
    { APP_KEY: 'Zx9_aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9f', DATA_DIR: path.join(ROOT_DIR, 'data-unused') },
    { generateKey: false },
  );
  const said = (s: string) => assert.ok(DOC.includes(s), `docs/connections.md should say ${s}`);
  said(`\`DATABASE_POOL_MAX\` (default ${config.dbPoolMax})`);
  said(`\`HASH_CONCURRENCY\` (default ${config.hashConcurrency})`);
  said(`\`HASH_QUEUE_MAX\` (default ${config.hashQueueMax})`);
  said(`\`REQUEST_TIMEOUT\` (default ${config.requestTimeout} s)`);
  said(`\`BODY_LIMIT\`\n(default ${config.bodyLimit / 1048576} MiB)`);
  said(`\`FILES_SCAN_TIMEOUT\` (default ${config.files.scanTimeoutMs / 1000} s)`);
  said(`setting \`recaptchaTimeout\` (default ${config.botCheck.recaptchaTimeout} ms`);
});

test('expensive functionality: each is named with its bound and the refusal at the bound, and the refusals exist [ASVS V15.1.3]', once, () => {
  const table = section('Expensive functionality');
  for (const what of ['Password hashing', 'Exports', 'Uploads', 'Record lists, filters and aggregates', 'Request bodies', 'Backups, restores'])
    assert.match(table, new RegExp(`\\| ${what}`), what);
  const codes = [...table.matchAll(/\d{3} `([A-Z_]+)`/g)].map((m) => m[1]!);
  assert.ok(codes.length >= 8, `refusals named: ${codes.join(', ')}`);
  for (const code of codes) assert.ok(code in ERRORS, `${code} is not an error code`);
  const budgets = new Set(Object.keys(RATE_LIMIT_DEFAULTS).flatMap((k) => /^([a-z]+)(Bytes)?Per(Ip|User)$/.exec(k)?.[1] ?? []));
  assert.ok(budgets.size >= 6, [...budgets].join(', '));
  for (const budget of budgets) assert.ok(DOC.includes(`\`${budget}\``), `the ${budget} budget is not named`);
});

test('secrets: every secret variable is listed with what it protects and when to rotate it [ASVS V13.1.4]', once, () => {
  const table = section('Secrets and their rotation');
  const vars = new Set<string>();
  for (const [, text] of sources()) for (const m of text.matchAll(/secretVar\(env, '([A-Z_]+)'/g)) vars.add(m[1]!);
  for (const m of read('src/config/s3-env.ts').matchAll(/secretVar\(env, `\$\{v\}_([A-Z_]+)`/g)) vars.add(`BACKUP_S3_${m[1]}`).add(`FILES_S3_${m[1]}`);
  assert.ok(vars.has('APP_KEY') && vars.has('SECRETS_KEY') && vars.has('DATABASE_URL'), [...vars].join(', '));
  const missing = [...vars].filter((v) => !table.includes(`\`${v}\``));
  assert.deepEqual(missing, [], `secrets not in docs/connections.md: ${missing.join(', ')}`);
  for (const row of table.split('\n').filter((l) => l.startsWith('| `'))) {
    const rotate = row.split(' | ')[2] ?? '';
    assert.match(rotate, /yearly|every \d+ days|once|expiry|certificate/, `no rotation schedule in ${row}`);
  }
});

test('third-party components: every production dependency is classified, the risky ones say why [ASVS V15.1.4]', once, () => {
  const table = section('Third-party components');
  const deps = Object.keys(JSON.parse(read('package.json')).dependencies as Record<string, string>);
  const rows = table.split('\n').filter((l) => l.startsWith('| `'));
  const classified = new Map<string, string>();
  for (const row of rows) {
    const [names, risk] = row.slice(2).split(' | ');
    for (const m of names!.matchAll(/`([^`]+)`/g)) classified.set(m[1]!, risk!);
  }
  const missing = deps.filter((d) => !classified.has(d));
  assert.deepEqual(missing, [], `dependencies not classified in docs/connections.md: ${missing.join(', ')}`);
  const gone = [...classified.keys()].filter((d) => !deps.includes(d));
  assert.deepEqual(gone, [], `classified but not a dependency: ${gone.join(', ')}`);
  for (const risky of ['@node-saml/node-saml', '@xmldom/xmldom', 'tar-stream', 'file-type', 'oidc-provider'])
    assert.equal(classified.get(risky), 'risky', risky);
});

/** What makes a module dangerous: it runs code, starts threads or processes, or parses hostile formats. */
const DANGEROUS =
  /from 'node:(vm|child_process|worker_threads)'|\bnew Function\(|from '(@xmldom\/xmldom|@node-saml\/node-saml|tar-stream|age-encryption|file-type|image-size|csv-parse|yaml)'/;

test(
  'dangerous functionality: every module that runs code, starts a thread or parses a hostile format is named with its protection [ASVS V15.1.5]',
  once,
  () => {
    const table = section('Dangerous functionality');
    const named = [...table.matchAll(/`(src\/[^`]+\.ts)`/g)].map((m) => m[1]!);
    for (const f of named) assert.ok(existsSync(path.join(ROOT_DIR, f)), `${f} is named but does not exist`);
    const dangerous = sources()
      .filter(([, text]) => DANGEROUS.test(text))
      .map(([f]) => f);
    assert.ok(dangerous.includes('src/auth/password-policy/regex.ts') && dangerous.includes('src/db/checkpointer.ts'), dangerous.join(', '));
    const missing = dangerous.filter((f) => !named.includes(f));
    assert.deepEqual(missing, [], `dangerous modules not in docs/connections.md: ${missing.join(', ')}`);
    for (const row of table.split('\n').filter((l) => l.startsWith('| `src/')))
      assert.ok((row.split(' | ')[2] ?? '').trim().length > 10, `no protection said for ${row}`);
  },
);

test('update time frames: docs/dependencies.md gives one per severity, and the CI check fails on the ones it must [ASVS V15.1.1]', once, () => {
  const md = read('docs/dependencies.md');
  for (const [severity, frame] of [
    ['critical', '7 days'],
    ['high', '30 days'],
    ['moderate', '90 days'],
    ['low', 'the next release'],
  ])
    assert.match(md, new RegExp(`^\\| ${severity} \\| ${frame} \\|$`, 'm'), `${severity}: ${frame}`);
  assert.match(md, /A \*\*high or critical\*\* advisory in a production dependency \*\*fails the run\*\*/);
  assert.match(read('scripts/advisories.mjs'), /high|critical/);
});

test(
  'inventory: every locked package comes from the npm registry with a sha512 integrity, no git, file or URL source; the SBOM lists every dependency [ASVS V15.1.2, V15.2.4]',
  once,
  () => {
    const pkg = JSON.parse(read('package.json'));
    for (const [name, range] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies } as Record<string, string>))
      assert.match(range, /^[\^~]?\d+\.\d+\.\d+(-[\w.]+)?$/, `${name}@${range} is not a registry version range`);
    const lock = JSON.parse(read('package-lock.json'));
    const bad: string[] = [];
    let n = 0;
    for (const [p, e] of Object.entries(lock.packages as Record<string, { version?: string; resolved?: string; integrity?: string; link?: boolean }>)) {
      if (p === '') continue;
      n++;
      if (e.link) bad.push(`${p}: a link`);
      else if (!/^sha512-[A-Za-z0-9+/]{86}==$/.test(e.integrity ?? '')) bad.push(`${p}: no sha512 integrity`);
      if (e.resolved !== undefined && !e.resolved.startsWith('https://registry.npmjs.org/')) bad.push(`${p}: from ${e.resolved}`);
      if (!/^\d+\.\d+\.\d+/.test(e.version ?? '')) bad.push(`${p}: version ${e.version}`);
    }
    assert.ok(n > 100, `${n} packages locked`);
    assert.deepEqual(bad, []);
    // The inventory: npm's own CycloneDX SBOM, from the lock file alone, names every locked package.
    const r = spawnSync('npm', ['sbom', '--package-lock-only', '--sbom-format', 'cyclonedx'], { cwd: ROOT_DIR, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const sbom = JSON.parse(r.stdout) as { bomFormat: string; components: Array<{ name: string; version: string; group?: string }> };
    assert.equal(sbom.bomFormat, 'CycloneDX');
    const names = new Set(sbom.components.map((c) => (c.group ? `${c.group}/${c.name}` : c.name)));
    for (const d of [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)]) assert.ok(names.has(d), `${d} missing from the SBOM`);
    assert.ok(sbom.components.length >= n - 20, `${sbom.components.length} components for ${n} locked packages`);
  },
);
