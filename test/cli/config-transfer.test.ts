// `palisade config export | import` (DATA-5): the document on standard output or in a private file, the diff
// of a dry run with nothing changed, the import applied and audited, a bad file refused with its code.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { cliEnv, events, login, makeApp, type TestApp } from '../helpers/app.js';
import { cli } from '../helpers/cli.js';
import { populate, RECAPTCHA_SECRET } from '../config-transfer/fixtures.js';

let a: TestApp;
let b: TestApp;
let dir: string;
before(async () => {
  a = await makeApp();
  b = await makeApp();
  await populate(a, (await login(a)).token);
  dir = mkdtempSync(path.join(tmpdir(), 'palisade-config-'));
});
after(async () => {
  await a?.close();
  await b?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('export prints JSON, or writes YAML to a file only its owner reads; no secret value', async () => {
  const json = await cli(['config', 'export'], cliEnv(a));
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.version, 1);
  assert.equal(json.stdout.includes(RECAPTCHA_SECRET), false);
  const out = path.join(dir, 'a.yaml');
  const yaml = await cli(['config', 'export', '--out', out], cliEnv(a));
  assert.equal(yaml.code, 0, yaml.stderr);
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.deepEqual(YAML.parse(readFileSync(out, 'utf8')), doc);
  assert.equal((await events(a, (await login(a)).token, 'config.exported'))[0]!.actor.name, 'cli');
});

test('import --dry-run prints the diff and changes nothing; import applies it; the same file again changes nothing', async () => {
  const src = JSON.parse((await cli(['config', 'export'], cliEnv(a))).stdout);
  src.settings.botCheck.mode = 'off'; // the secret it needs is not set on b
  const file = path.join(dir, 'import.json');
  writeFileSync(file, JSON.stringify(src));
  const before = (await cli(['config', 'export'], cliEnv(b))).stdout;
  const dry = await cli(['config', 'import', file, '--dry-run'], cliEnv(b));
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /collections: 2 added, 0 changed, 0 removed\n {2}\+ cases\n {2}\+ customers/);
  assert.match(dry.stdout, /~ tokenPolicy: sessionValidity: 28800 -> 14400/);
  assert.match(dry.stdout, /secrets not set here .*botCheck\.recaptchaSecretKey/);
  assert.match(dry.stdout, /dry run: nothing was changed/);
  assert.equal((await cli(['config', 'export'], cliEnv(b))).stdout, before);

  const real = await cli(['config', 'import', file], cliEnv(b));
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /imported: \d+ change\(s\) applied \(sha256 [0-9a-f]{64}\)/);
  const ev = await events(b, (await login(b)).token, 'config.imported');
  assert.equal(ev.length, 1);
  assert.equal(ev[0]!.actor.name, 'cli');
  const exported = JSON.parse((await cli(['config', 'export'], cliEnv(b))).stdout);
  assert.deepEqual({ ...exported, secrets: [] }, { ...src, secrets: [] });

  const again = await cli(['config', 'import', file, '--dry-run'], cliEnv(b));
  assert.match(again.stdout, /\(0 change\(s\) would be made\)/);
});

test('a bad file is refused with its code and problems; exit 1; usage errors exit 2', async () => {
  const bad = path.join(dir, 'bad.yaml');
  writeFileSync(bad, 'version: 1\nsettings:\n  tokenPolicy:\n    sessionValidty: 60\n');
  const r = await cli(['config', 'import', bad], cliEnv(b));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /CONFIG_INVALID: .*\n {2}- settings.tokenPolicy: unknown field "sessionValidty"/);
  const v = path.join(dir, 'v2.json');
  writeFileSync(v, '{"version": 2}');
  assert.match((await cli(['config', 'import', v], cliEnv(b))).stderr, /CONFIG_VERSION_UNSUPPORTED/);
  const u = await cli(['config', 'import'], cliEnv(b));
  assert.equal(u.code, 2);
  assert.match(u.stderr, /config import needs a FILE/);
  assert.equal((await cli(['config', 'export', '--format', 'xml'], cliEnv(b))).code, 2);
});
