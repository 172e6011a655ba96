// `palisade schema apply | export`: one environment's collections move to another.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { makeApp, login, bearer, cliEnv, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';

let t: TestApp;
let dir: string;
before(async () => {
  t = await makeApp();
  dir = mkdtempSync(path.join(tmpdir(), 'palisade-schema-'));
});
after(async () => {
  await t.close();
  rmSync(dir, { recursive: true, force: true });
});

const YAML_FILE = `collections:
  - name: customers
    fields:
      - { name: name, type: string, required: true }
      - { name: tier, type: enum, values: [gold, silver] }
  - name: cases
    ownership: creator
    fields:
      - { name: customer, type: relation, target: customers }
      - { name: state, type: status, values: [open, closed] }
      - { name: notes, type: text, hidden: true }
`;

const collections = async () => (await t.app.inject({ method: 'GET', url: '/api/admin/collections', headers: bearer((await login(t)).token) })).json().collections;

test('apply creates collections from YAML (relations in any order), export prints them back, apply again is a no-op', async () => {
  const f = path.join(dir, 'schema.yaml');
  writeFileSync(f, YAML_FILE);
  const r = await cli(['schema', 'apply', f], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /created: customers, cases/);
  const cols = await collections();
  assert.deepEqual(cols.map((c: { name: string }) => c.name).sort(), ['cases', 'customers']);
  const exp = await cli(['schema', 'export'], cliEnv(t));
  assert.equal(exp.code, 0, exp.stderr);
  const doc = JSON.parse(exp.stdout);
  assert.equal(doc.collections.find((c: { name: string }) => c.name === 'cases').fields.length, 3);
  const jf = path.join(dir, 'exported.json');
  writeFileSync(jf, exp.stdout);
  const again = await cli(['schema', 'apply', jf], cliEnv(t));
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /created: none\nfields added: none\nfields removed: none/);
});

test('new fields are added; fields missing from the file are removed only with --prune', async () => {
  const f = path.join(dir, 'v2.yaml');
  writeFileSync(f, YAML_FILE.replace('      - { name: notes, type: text, hidden: true }\n', '      - { name: priority, type: integer, indexed: true }\n'));
  const r = await cli(['schema', 'apply', f], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /fields added: cases.priority/);
  assert.match(r.stdout, /fields removed: none/);
  const p = await cli(['schema', 'apply', f, '--prune'], cliEnv(t));
  assert.match(p.stdout, /fields removed: cases.notes/);
  const cases = (await collections()).find((c: { name: string }) => c.name === 'cases');
  assert.deepEqual(cases.fields.map((x: { name: string }) => x.name).sort(), ['customer', 'priority', 'state']);
});

test('a bad file changes nothing and lists its problems: unknown keys, changed fields, bad names, bad YAML', async () => {
  const before = JSON.stringify(await collections());
  const cases: Array<[string, string, RegExp]> = [
    ['typo.yaml', 'collections:\n  - name: x\n    feilds: []\n', /unknown key "feilds"/],
    ['change.yaml', YAML_FILE.replace('values: [gold, silver]', 'values: [gold]'), /changing a field is not supported/],
    ['evil.json', JSON.stringify({ collections: [{ name: 'x; drop table users', fields: [] }] }), /name/],
    ['broken.yaml', 'collections: [\n', /does not parse/],
    ['alias.yaml', 'a: &a [1]\ncollections: *a\n', /does not parse|unknown top-level key/],
  ];
  for (const [name, text, want] of cases) {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    const r = await cli(['schema', 'apply', f], cliEnv(t));
    assert.equal(r.code, 1, `${name}: ${r.stdout}`);
    assert.match(r.stderr, want, name);
  }
  assert.equal(JSON.stringify(await collections()), before);
});
