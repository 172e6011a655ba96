#!/usr/bin/env node
// The advisory check of CI (ASVS V15.2.1, docs/dependencies.md, D377): `npm audit --omit=dev --json` on the production
// dependencies, within a time limit. It fails (exit 1) on a high or critical advisory that the exceptions file does not
// list with a reason and an unexpired date; it passes, saying so plainly, when the registry cannot be reached or does
// not answer audits. It writes a short summary to stdout and to test-artifacts/advisories.json.
//
//   node scripts/advisories.mjs [--input AUDIT.json] [--exceptions FILE] [--out FILE]
//
// --input reads a saved `npm audit --json` answer instead of asking the registry. ADVISORIES_TIMEOUT_MS bounds the
// whole audit (default 30000). Exit codes: 0 passed or not checked, 1 failing advisories, 2 a broken exceptions file.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    input: { type: 'string' },
    exceptions: { type: 'string', default: path.join(ROOT, 'advisory-exceptions.json') },
    out: { type: 'string', default: path.join(ROOT, 'test-artifacts', 'advisories.json') },
  },
});
const TIMEOUT_MS = Number(process.env.ADVISORIES_TIMEOUT_MS ?? 30000);
if (!Number.isInteger(TIMEOUT_MS) || TIMEOUT_MS < 1000 || TIMEOUT_MS > 600000) {
  console.error('advisories: ADVISORIES_TIMEOUT_MS must be an integer from 1000 to 600000');
  process.exit(2);
}
const BLOCKING = new Set(['high', 'critical']);
const SEVERITIES = ['critical', 'high', 'moderate', 'low', 'info'];

/** A URL's user and password taken out of a message (a registry URL may carry them). */
const redact = (s) => String(s).replace(/(\w+:\/\/)[^/@\s]+@/g, '$1***@');

/** The exceptions file: a JSON array of { id, package, reason, expires: YYYY-MM-DD, recordedBy }; strict. */
function readExceptions(file) {
  let list;
  try {
    list = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return [];
    throw new Error(`${file}: not valid JSON (${e.message})`);
  }
  if (!Array.isArray(list)) throw new Error(`${file}: must be a JSON array`);
  const problems = [];
  const keys = ['id', 'package', 'reason', 'expires', 'recordedBy'];
  for (const [i, x] of list.entries()) {
    if (typeof x !== 'object' || x === null || Array.isArray(x)) {
      problems.push(`entry ${i}: not an object`);
      continue;
    }
    for (const k of Object.keys(x)) if (!keys.includes(k)) problems.push(`entry ${i}: unknown key "${k}"`);
    for (const k of keys) if (typeof x[k] !== 'string' || x[k].trim() === '') problems.push(`entry ${i}: "${k}" is required (a non-empty string)`);
    if (typeof x.expires === 'string' && (!/^\d{4}-\d{2}-\d{2}$/.test(x.expires) || Number.isNaN(Date.parse(`${x.expires}T00:00:00Z`))))
      problems.push(`entry ${i}: "expires" must be a date, YYYY-MM-DD`);
  }
  if (problems.length > 0) throw new Error(`${file}:\n  - ${problems.join('\n  - ')}`);
  return list;
}

/** Runs npm audit; resolves with its stdout, or { unreachable } when it gave no report within the limit. */
function runAudit() {
  return new Promise((resolve) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const args = ['audit', '--omit=dev', '--json', '--fetch-retries=0', `--fetch-timeout=${Math.max(1000, TIMEOUT_MS - 2000)}`, '--loglevel=error'];
    const child = spawn(npm, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ unreachable: `no answer within ${TIMEOUT_MS / 1000} s` });
    }, TIMEOUT_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ unreachable: `npm could not run (${e.message})` });
    });
    child.on('close', () => {
      clearTimeout(timer);
      resolve({ text: out, stderr: err });
    });
  });
}

/** The advisories of a report, one entry per advisory and package, from the `via` objects (strings are paths). */
function advisoriesOf(report) {
  const seen = new Map();
  for (const v of Object.values(report.vulnerabilities ?? {})) {
    for (const via of v.via ?? []) {
      if (typeof via !== 'object' || via === null) continue;
      const id = /\/(GHSA-[\w-]+)$/.exec(via.url ?? '')?.[1] ?? String(via.source);
      const key = `${id} ${via.name}`;
      if (!seen.has(key))
        seen.set(key, {
          id,
          package: via.name,
          severity: via.severity,
          title: via.title,
          range: via.range,
          url: via.url,
          fixAvailable: Boolean(v.fixAvailable),
        });
    }
  }
  return [...seen.values()].sort((a, b) => SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || a.id.localeCompare(b.id));
}

function write(summary) {
  mkdirSync(path.dirname(values.out), { recursive: true });
  writeFileSync(values.out, `${JSON.stringify(summary, null, 2)}\n`);
}

let exceptions;
try {
  exceptions = readExceptions(values.exceptions);
} catch (e) {
  console.error(`advisories: the exceptions file is refused: ${e.message}`);
  process.exit(2);
}

const answer = values.input ? { text: readFileSync(values.input, 'utf8') } : await runAudit();
let report = null;
let notChecked = answer.unreachable ?? null;
if (notChecked === null) {
  try {
    report = JSON.parse(answer.text);
  } catch {
    notChecked = `npm audit gave no report (${
      redact(answer.stderr ?? '')
        .trim()
        .split('\n')
        .pop() || 'no output'
    })`;
  }
}
if (report !== null && (typeof report !== 'object' || !('vulnerabilities' in report))) {
  // npm's error object: the registry refused the connection, timed out, or does not answer audits (a 404 from a mirror).
  const status = report?.statusCode ? `HTTP ${report.statusCode}: ` : '';
  notChecked = `${status}${redact(report?.message ?? report?.error?.summary ?? 'npm audit failed')}`;
  report = null;
}
const checkedAt = new Date().toISOString();
if (report === null) {
  console.log(`advisories: NOT CHECKED: the registry could not be reached or did not answer the audit (${notChecked}); not a failure`);
  write({ checkedAt, state: 'not-checked', reason: notChecked });
  process.exit(0);
}

const today = checkedAt.slice(0, 10);
const all = advisoriesOf(report);
const failing = [];
const excepted = [];
for (const a of all) {
  if (!BLOCKING.has(a.severity)) continue;
  const x = exceptions.find((e) => e.id === a.id && e.package === a.package);
  if (x && x.expires >= today) excepted.push({ ...a, reason: x.reason, expires: x.expires, recordedBy: x.recordedBy });
  else failing.push({ ...a, ...(x ? { expiredException: x.expires } : {}) });
}
const counts = Object.fromEntries(SEVERITIES.map((s) => [s, all.filter((a) => a.severity === s).length]));
const prod = report.metadata?.dependencies?.prod;
console.log(
  `advisories: ${prod ?? '?'} production dependencies checked: ${SEVERITIES.slice(0, 4)
    .map((s) => `${counts[s]} ${s}`)
    .join(', ')}`,
);
for (const a of failing)
  console.log(
    `advisories: FAIL ${a.severity} ${a.id} in ${a.package} ${a.range ?? ''}: ${a.title}${a.fixAvailable ? ' (a fix is available: npm audit fix --omit=dev)' : ''}${a.expiredException ? ` (its exception expired on ${a.expiredException})` : ''}`,
  );
for (const a of excepted) console.log(`advisories: excepted ${a.severity} ${a.id} in ${a.package} until ${a.expires}: ${a.reason} (${a.recordedBy})`);
for (const a of all.filter((x) => !BLOCKING.has(x.severity)))
  console.log(`advisories: ${a.severity} ${a.id} in ${a.package}: ${a.title} (fix within the policy's time frame)`);
const stale = exceptions.filter((e) => e.expires < today).map((e) => `${e.id} (${e.package}, expired ${e.expires})`);
if (stale.length > 0) console.log(`advisories: expired exceptions to review: ${stale.join(', ')}`);
write({ checkedAt, state: failing.length > 0 ? 'failed' : 'passed', productionDependencies: prod ?? null, counts, failing, excepted });
console.log(
  failing.length > 0
    ? `advisories: FAILED: ${failing.length} high or critical advisory(ies) in production dependencies (docs/dependencies.md)`
    : 'advisories: passed',
);
process.exit(failing.length > 0 ? 1 : 0);
