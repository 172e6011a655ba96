import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { cliEnv, createUser, useApp, type TestApp } from '../../helpers/app.js';
import { cli } from '../../helpers/cli.js';
import { PW } from '../mfa/world.js';

// `palisade sso ...` (AUTH-13): providers from a file, the client secret from standard input only.

describe('palisade sso', () => {
  let t: TestApp;
  let admin: string;
  useApp((app, token) => {
    t = app;
    admin = token;
  });

  it('adds a provider from a file, stores its secret from stdin, lists, links, unlinks and removes it', async () => {
    const env = cliEnv(t);
    const file = path.join(t.shared.dataDir, 'corp.yaml');
    writeFileSync(file, 'type: oidc\ndisplayName: Corp\nemailDomains: [corp.test]\noidc:\n  issuer: https://idp.corp.test\n  clientId: palisade\n');
    let r = await cli(['sso', 'add', 'corp', '--file', file], env);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['sso', 'set-secret', 'corp'], env, 'the-client-secret-value\n');
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['sso', 'set-secret', 'corp', 'on-the-command-line'], env);
    assert.equal(r.code, 2, r.stderr);
    r = await cli(['sso', 'list'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /corp {2}oidc {2}enabled {2}jit {2}issuer https:\/\/idp\.corp\.test {2}client palisade {2}secret set {2}callback \S+\/api\/auth\/sso\/corp\/callback {2}back-channel logout \S+\/api\/auth\/sso\/corp\/backchannel-logout$/m,
    );
    assert.ok(!r.stdout.includes('the-client-secret-value'));
    const stored = await t.s.secrets.resolve('sso.corp.clientSecret');
    assert.deepEqual(stored, { state: 'set', value: 'the-client-secret-value' });
    // A secret in the file is refused.
    writeFileSync(file, 'oidc:\n  clientSecret: nope\n');
    r = await cli(['sso', 'update', 'corp', '--file', file], env);
    assert.notEqual(r.code, 0);
    await createUser(t, admin, 'sam', PW);
    r = await cli(['sso', 'link', 'corp', 'sub-123', '--username', 'sam'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await t.s.sso.linksOf((await t.s.users.findByName('sam'))!.id)).length, 1);
    r = await cli(['sso', 'unlink', 'corp', 'sub-123', '--username', 'sam'], env);
    assert.equal(r.code, 0, r.stderr);
    r = await cli(['sso', 'remove', 'corp'], env);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await t.s.secrets.resolve('sso.corp.clientSecret')).state, 'unset', 'its own secret goes with it');
  });
});
