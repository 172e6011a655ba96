/**
 * The ASVS matrix generator (scripts/asvs.mjs, docs/asvs.md) and its test reporter (scripts/asvs-reporter.mjs), on a
 * small fixture CSV: what fails it, what the --enforce gate counts, and the per-chapter counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ROOT_DIR } from '../helpers/cli.js';

/** The generator does not depend on the database: it runs in the SQLite halves, not again on PostgreSQL. */
const once = { skip: process.env.TEST_DB === 'postgres' && 'the generator does not depend on the database' };

// Tags are built, never written out here, so that the static scan of this very file (npm run asvs) finds none.
const OPEN = '[';
const tag = (ids: string) => `${OPEN}ASVS ${ids}]`;

// Ids written both ways (V1.1.1 and 2.1.1): the generator normalises them.
const CSV = `id,chapter,section,level,text
V1.1.1,V1 Alpha,V1.1 One,1,"Verify that alpha one, at level 1, holds."
V1.1.2,V1 Alpha,V1.1 One,2,Verify that alpha two holds.
V1.2.1,V1 Alpha,V1.2 Two,3,Verify that alpha three holds.
2.1.1,V2 Beta,V2.1 One,1,Verify that beta one holds.
2.1.2,V2 Beta,V2.1 One,2,Verify that beta two does not apply.
2.1.3,V2 Beta,V2.1 One,3,Verify that beta three holds in part.
`;

type Line = { file: string; name: string; ids: string[]; status: 'pass' | 'fail' | 'skip' };
const line = (name: string, ids: string[], status: Line['status'], file = 'test/x.test.ts'): Line => ({
  file,
  name: `${name} ${tag(ids.join(', '))}`,
  ids,
  status,
});

function run(t: { after: (fn: () => void) => void }, opts: { results?: Line[][]; exceptions?: object; args?: string[]; tests?: Record<string, string> }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-asvs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'asvs.csv'), CSV);
  writeFileSync(path.join(dir, 'exceptions.json'), JSON.stringify(opts.exceptions ?? {}));
  const args = [
    '--csv',
    path.join(dir, 'asvs.csv'),
    '--exceptions',
    path.join(dir, 'exceptions.json'),
    '--out',
    path.join(dir, 'asvs.md'),
    ...(opts.args ?? []),
  ];
  (opts.results ?? []).forEach((lines, i) => {
    const file = path.join(dir, `half${i}.asvs`);
    writeFileSync(file, lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    args.push(file);
  });
  if (opts.tests) {
    for (const [name, text] of Object.entries(opts.tests)) writeFileSync(path.join(dir, name), text);
    args.push('--static', '--tests', dir);
  }
  const r = spawnSync(process.execPath, [path.join(ROOT_DIR, 'scripts/asvs.mjs'), ...args], { cwd: ROOT_DIR, encoding: 'utf8' });
  let md = '';
  try {
    md = readFileSync(path.join(dir, 'asvs.md'), 'utf8');
  } catch {}
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, md, dir };
}

/** A summary row's twelve counts: applicable, met, not met, N/A for levels 1, 2 and 3. */
const counts = (md: string, chapter: string) => {
  const row = md.split('\n').find((l) => l.startsWith(`| [${chapter}]`) || l.startsWith(`| ${chapter} |`));
  assert.ok(row, `no summary row for ${chapter}`);
  return row.split('|').slice(2, -1).map(Number);
};
const verdict = (md: string, id: string) =>
  md
    .split('\n')
    .find((l) => l.startsWith(`| ${id} |`))
    ?.split('|')[4]
    ?.trim();

test('the counts per chapter and level: met in one run and skipped in another is met; N/A and partial come from the exceptions', once, (t) => {
  const sqlite = [line('alpha one', ['V1.1.1'], 'pass'), line('alpha two', ['1.1.2'], 'skip'), line('alpha three and beta one', ['V1.2.1', 'V2.1.1'], 'pass')];
  const postgres = [line('alpha one', ['V1.1.1'], 'skip'), line('alpha two', ['1.1.2'], 'pass'), line('beta three', ['V2.1.3'], 'pass', 'test/y.test.ts')];
  const exceptions = { 'V2.1.2': { verdict: 'not-applicable', reason: 'no beta two here' }, '2.1.3': { verdict: 'partial', reason: 'only its first half' } };
  const r = run(t, { results: [sqlite, postgres], exceptions });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(counts(r.md, 'V1 Alpha'), [1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0]);
  assert.deepEqual(counts(r.md, 'V2 Beta'), [1, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0]);
  assert.deepEqual(counts(r.md, '**All**'), [2, 2, 0, 0, 1, 1, 0, 1, 2, 1, 1, 0]);
  assert.equal(verdict(r.md, 'V1.1.2'), 'met');
  assert.equal(verdict(r.md, 'V2.1.2'), 'N/A');
  assert.equal(verdict(r.md, 'V2.1.3'), 'partial');
  assert.match(r.md, /\| V1\.1\.1 \| 1 \| Alpha one, at level 1, holds \| met \| `test\/x\.test\.ts` › alpha one \|/);
  assert.match(r.md, /only its first half/);
  assert.match(r.md, /results mode/);
});

test('a tag that names an id not in the CSV fails the generator, in results and in static mode', once, (t) => {
  const r = run(t, { results: [[line('alpha one', ['V1.1.1'], 'pass'), line('typo', ['V1.1.9'], 'pass')]] });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /typo .*: V1\.1\.9 is not an ASVS 5\.0\.0 requirement/);
  const s = run(t, { tests: { 'a.test.ts': `test('typo ${tag('V7.7.7')}', () => {});\n` } });
  assert.equal(s.status, 1);
  assert.match(s.stderr, /V7\.7\.7 is not an ASVS 5\.0\.0 requirement/);
  const e = run(t, { results: [[line('alpha one', ['V1.1.1'], 'pass')]], exceptions: { 'V3.1.1': { verdict: 'not-applicable', reason: 'x' } } });
  assert.equal(e.status, 1);
  assert.match(e.stderr, /V3\.1\.1 is not an ASVS 5\.0\.0 requirement/);
});

test('a tagged test that failed in one run fails the generator, even if it passed in another', once, (t) => {
  const r = run(t, { results: [[line('alpha one', ['V1.1.1'], 'pass')], [line('alpha one', ['V1.1.1'], 'fail')]] });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /alpha one .*: failed/);
  assert.equal(verdict(r.md, 'V1.1.1'), 'failed');
  assert.match(r.md, /alpha one \(failed\)/);
});

test('--enforce fails on an applicable level 1 requirement without a passing test, and passes once it is excused', once, (t) => {
  // V2.1.1 (level 1) is only skipped; V1.2.1 and V2.1.3 are level 3, outside the gate.
  const results = [[line('alpha one', ['V1.1.1'], 'pass'), line('alpha two', ['V1.1.2'], 'pass'), line('beta one', ['V2.1.1'], 'skip')]];
  const n = run(t, { results });
  assert.equal(n.status, 0, 'without --enforce the gaps are printed, not failed');
  assert.match(n.stdout, /V2: V2\.1\.1 \(L1\), V2\.1\.2 \(L2\)/);
  const r = run(t, { results, args: ['--enforce'] });
  assert.equal(r.status, 1);
  assert.match(r.stdout, /V2: V2\.1\.1 \(L1\), V2\.1\.2 \(L2\)/);
  assert.match(r.stderr, /2 applicable level 1 and 2 requirements are not proved/);
  const partial = { 'V2.1.1': { verdict: 'partial', reason: 'half of it' }, 'V2.1.2': { verdict: 'not-applicable', reason: 'no beta two here' } };
  assert.equal(run(t, { results, args: ['--enforce'], exceptions: partial }).status, 1, 'only not-applicable excuses');
  const excused = { 'V2.1.1': { verdict: 'not-applicable', reason: 'no beta here' }, 'V2.1.2': { verdict: 'not-applicable', reason: 'no beta two here' } };
  const ok = run(t, { results: [results[0]!.slice(0, 2)], args: ['--enforce'], exceptions: excused });
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(verdict(ok.md, 'V2.1.1'), 'N/A');
});

test('a requirement both tagged by a test and declared not applicable is refused', once, (t) => {
  const r = run(t, { results: [[line('alpha one', ['V1.1.1'], 'pass')]], exceptions: { 'V1.1.1': { verdict: 'not-applicable', reason: 'x' } } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /V1\.1\.1: declared not applicable in the exceptions, yet tagged by 1 test/);
});

test('--static reads the tags of titles in test sources (strings, templates, several ids), not of comments', once, (t) => {
  const source = [
    `// a comment that mentions ${tag('V1.2.1')} is no title`,
    `test('alpha one ${tag('V1.1.1')}', () => {});`,
    'describe("beta", () => {',
    `  it(\`alpha two and beta \${1 + 1} ${tag('V1.1.2, 2.1.1')}\`, () => {});`,
    '});',
  ].join('\n');
  const r = run(t, { tests: { 'a.test.ts': source, 'b.ts': `test('not a test file ${tag('V2.1.3')}', () => {});` } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(verdict(r.md, 'V1.1.1'), 'tagged');
  assert.equal(verdict(r.md, 'V1.1.2'), 'tagged');
  assert.equal(verdict(r.md, 'V2.1.1'), 'tagged');
  assert.equal(verdict(r.md, 'V1.2.1'), 'not tagged');
  assert.equal(verdict(r.md, 'V2.1.3'), 'not tagged');
  assert.match(r.md, /alpha two and beta \$\{1 \+ 1\}/);
  assert.match(r.md, /static mode/);
  assert.deepEqual(counts(r.md, '**All**'), [2, 2, 0, 0, 2, 1, 1, 0, 2, 0, 2, 0]);
});

test('the reporter writes one line per tagged test with its status; the generator reads it', once, (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-asvs-reporter-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fixture = [
    "import { test, describe, it } from 'node:test';",
    `test('passes ${tag('V1.1.1')}', () => {});`,
    `test('is skipped ${tag('V1.1.2')}', { skip: true }, () => {});`,
    `describe('a suite', () => { it('fails ${tag('V2.1.1, 1.2.1')}', () => { throw new Error('no'); }); });`,
    "test('untagged', () => {});",
  ].join('\n');
  writeFileSync(path.join(dir, 'fixture.test.mjs'), fixture);
  const out = path.join(dir, 'out.asvs');
  // A runner started inside a test file would otherwise report to its parent runner, not to the reporter.
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-reporter=${path.join(ROOT_DIR, 'scripts/asvs-reporter.mjs')}`, `--test-reporter-destination=${out}`, 'fixture.test.mjs'],
    { cwd: dir, encoding: 'utf8', env },
  );
  assert.equal(r.status, 1, 'the fixture has a failing test');
  const lines = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    lines.map((l) => [path.basename(l.file), l.name.replace(/ \[.*/, ''), l.ids, l.status]),
    [
      ['fixture.test.mjs', 'passes', ['V1.1.1'], 'pass'],
      ['fixture.test.mjs', 'is skipped', ['V1.1.2'], 'skip'],
      ['fixture.test.mjs', 'fails', ['V2.1.1', '1.2.1'], 'fail'],
    ],
  );
  const g = run(t, { results: [lines] });
  assert.equal(g.status, 1);
  assert.equal(verdict(g.md, 'V1.1.1'), 'met');
  assert.equal(verdict(g.md, 'V1.1.2'), 'not met');
  assert.equal(verdict(g.md, 'V1.2.1'), 'failed');
});
