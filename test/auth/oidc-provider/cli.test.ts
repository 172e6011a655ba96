import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cliEnv, useApp, type TestApp } from '../../helpers/app.js';
import { cli } from '../../helpers/cli.js';

// `palisade oidc-clients ...` (AUTH-13, Palisade as an OpenID Provider): clients from a file, the secret printed
// once, rotation, removal, new signing keys.

describe('palisade oidc-clients', () => {
  let t: TestApp;
  useApp((app) => {
    t = app;
  });

  it('registers, lists, rotates and removes a client, and rotates the signing keys', async () => {
    const env = cliEnv(t);
    const file = path.join(t.shared.dataDir, 'wiki.yaml');
    writeFileSync(file, 'name: Wiki\nredirectUris: [https://wiki.example.test/cb]\nconfidential: true\nscopes: [openid, email]\n');
    let r = await cli(['oidc-clients', 'add', '--file', file], env);
    assert.equal(r.code, 0, r.stderr);
    const id = /created OIDC client (pc_[0-9a-f]{32})/.exec(r.stdout)![1]!;
    const secret = /client secret \(shown once\): (\S+)/.exec(r.stdout)![1]!;
    r = await cli(['oidc-clients', 'list'], env);
    assert.match(r.stdout, new RegExp(`${id} {2}enabled {2}confidential {2}consent {2}scopes openid,email {2}Wiki`));
    assert.ok(!r.stdout.includes(secret));
    r = await cli(['oidc-clients', 'rotate-secret', id], env);
    assert.equal(r.code, 0, r.stderr);
    const next = /\(shown once\): (\S+)/.exec(r.stdout)![1]!;
    assert.notEqual(next, secret);
    assert.equal(await t.s.oidcProvider.clients.secretOf((await t.s.oidcProvider.clients.get(id))!), next);
    writeFileSync(file, 'secret: nope\n');
    r = await cli(['oidc-clients', 'update', id, '--file', file], env);
    assert.equal(r.code, 2);
    // A tag the parser cannot resolve is refused by name, not read as a string (and the parser prints no warning).
    writeFileSync(file, 'name: !!js/function "function () {}"\n');
    r = await cli(['oidc-clients', 'update', id, '--file', file], env);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /the YAML is refused: Unresolved tag/);
    assert.doesNotMatch(r.stderr, /Warning/);
    assert.equal((await t.s.oidcProvider.clients.get(id))!.name, 'Wiki');
    r = await cli(['oidc-clients', 'rotate-keys'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /new signing keys/);
    r = await cli(['oidc-clients', 'remove', id], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await t.s.oidcProvider.clients.get(id), null);
  });
});
