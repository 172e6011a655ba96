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

/** Each file is refused by `schema apply` with an error matching its pattern. */
async function refusedFiles(cases: Array<[string, string, RegExp]>): Promise<void> {
  for (const [name, text, want] of cases) {
    const f = path.join(dir, name);
    writeFileSync(f, text);
    const r = await cli(['schema', 'apply', f], cliEnv(t));
    assert.equal(r.code, 1, `${name}: ${r.stdout}`);
    assert.match(r.stderr, want, name);
  }
}

const collections = async () =>
  (await t.app.inject({ method: 'GET', url: '/api/admin/collections', headers: bearer((await login(t)).token) })).json().collections;

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
    ['alias.yaml', 'a: &a [1]\ncollections: *a\n', /aliases \(\*name\) are not allowed/],
    ['tagged.yaml', 'collections: !!set {x}\n', /tagged value/],
    ['two.yaml', 'collections: []\n---\nroles: []\n', /multiple documents/],
  ];
  await refusedFiles(cases);
  assert.equal(JSON.stringify(await collections()), before);
});

const ACCESS_FILE = `collections:
  - name: tasks
    ownership: group
    ownershipBypass: [lead]
    fields:
      - { name: title, type: string, required: true }
      - { name: team, type: group }
      - { name: cost, type: decimal, block: finance }
roles:
  - { name: worker, permissions: [], menus: [tasks] }
  - { name: lead, description: Team leads, permissions: [users.manage], menus: [tasks, users] }
departments:
  - { name: blue, roles: [worker] }
grants:
  - { role: worker, collection: tasks, actions: [view, create], fields: [title] }
  - { role: lead, collection: tasks, actions: [view, update], fields: [title, team, "block:finance"], scope: { title: { $ne: secret } } }
`;

const admin = async () => (await login(t)).token;
const get = async (url: string) => (await t.app.inject({ method: 'GET', url, headers: bearer(await admin()) })).json();

test('roles, departments and grants travel in the schema file: apply, export, apply again gives the same model', async () => {
  const f = path.join(dir, 'access.yaml');
  writeFileSync(f, ACCESS_FILE);
  const r = await cli(['schema', 'apply', f], cliEnv(t));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /roles: worker, lead\ndepartments: blue\ngrants: 2/);
  const roles = (await get('/api/admin/roles')).roles;
  assert.deepEqual(
    roles.find((x: { name: string }) => x.name === 'lead'),
    { name: 'lead', description: 'Team leads', permissions: ['users.manage'], menus: ['tasks', 'users'] },
  );
  assert.deepEqual((await get('/api/admin/departments')).departments, [{ name: 'blue', description: null, roles: ['worker'] }]);
  const grants = (await get('/api/admin/grants?collection=tasks')).grants;
  assert.equal(grants.length, 2);
  // Export, then apply the export: the same grants, not twice as many.
  const exp = await cli(['schema', 'export', '--format', 'yaml'], cliEnv(t));
  assert.equal(exp.code, 0, exp.stderr);
  assert.match(exp.stdout, /ownershipBypass:\n\s+- lead/);
  const ef = path.join(dir, 'exported-access.yaml');
  writeFileSync(ef, exp.stdout);
  const again = await cli(['schema', 'apply', ef], cliEnv(t));
  assert.equal(again.code, 0, again.stderr);
  const after = (await get('/api/admin/grants?collection=tasks')).grants;
  const norm = (gs: Array<Record<string, unknown>>) => gs.map((g) => ({ ...g, id: '' })).sort((x, y) => String(x.role).localeCompare(String(y.role)));
  assert.deepEqual(norm(after), norm(grants));
  // The model works: a member of blue acts as worker and sees the group's tasks through the API.
  const uid = (
    await t.app.inject({
      method: 'POST',
      url: '/api/admin/users',
      headers: bearer(await admin()),
      payload: { mustChangePassword: false, username: 'bluey', password: 'Azure-sky-walker-3391' },
    })
  ).json().user.id;
  const set = await cli(['user', 'departments', '--username', 'bluey', '--set', 'blue'], cliEnv(t));
  assert.equal(set.code, 0, set.stderr);
  assert.deepEqual((await get(`/api/admin/users/${uid}/access`)).held, ['worker']);
  const bluey = (await login(t, 'bluey', 'Azure-sky-walker-3391')).token;
  const made = await t.app.inject({ method: 'POST', url: '/api/collections/tasks/records', headers: bearer(bluey), payload: { title: 'paint' } });
  assert.equal(made.statusCode, 201, made.body);
  const roles2 = await cli(['user', 'roles', '--username', 'bluey', '--set', 'lead'], cliEnv(t));
  assert.equal(roles2.code, 0, roles2.stderr);
  assert.deepEqual((await get(`/api/admin/users/${uid}/access`)).held, ['lead', 'worker']);
});

test('a bad access model changes nothing: unknown permission, grant field, role of a grant, department role', async () => {
  const before = JSON.stringify([await get('/api/admin/roles'), await get('/api/admin/grants'), await get('/api/admin/departments')]);
  const cases: Array<[string, string, RegExp]> = [
    ['perm.yaml', ACCESS_FILE.replace('permissions: [users.manage]', 'permissions: [root.everything]'), /unknown permission/],
    ['field.yaml', ACCESS_FILE.replace('fields: [title] }', 'fields: [title, salary] }'), /unknown field or block salary/],
    ['role.yaml', ACCESS_FILE.replace('- { role: worker,', '- { role: ghost,'), /must be in the file's roles/],
    ['dept.yaml', ACCESS_FILE.replace('roles: [worker] }', 'roles: [nobody] }'), /unknown role nobody/],
    ['key.yaml', ACCESS_FILE.replace('{ name: blue,', '{ name: blue, boss: x,'), /unknown key "boss"/],
    ['orphan.yaml', 'collections: []\ngrants: []\n', /come with "roles"/],
  ];
  await refusedFiles(cases);
  assert.equal(JSON.stringify([await get('/api/admin/roles'), await get('/api/admin/grants'), await get('/api/admin/departments')]), before);
});
