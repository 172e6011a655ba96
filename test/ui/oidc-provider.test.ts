import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as oc from 'openid-client';
import { createUser, login } from '../helpers/app.js';
import { assertClean, shot, signIn, startUi, type UiWorld } from '../helpers/ui.js';
import { freePort } from '../auth/passkeys/world.js';

// Palisade as an OpenID Provider in the browser (AUTH-13): an administrator registers a client on its screen (the
// secret shown once), and a person signs in to that client through Palisade's own sign-in page and its consent
// page, under the strict CSP; the client (openid-client) then redeems the code.

describe('admin UI: Palisade as an OpenID Provider', () => {
  let w: UiWorld;
  let rpServer: Server;
  let callback: string;
  let client: { id: string; secret: string } | null = null;

  before(async () => {
    const port = await freePort();
    w = await startUi({ env: { PUBLIC_URL: `http://127.0.0.1:${port}` } }, { port });
    rpServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('signed in at the client');
    });
    await new Promise<void>((r) => rpServer.listen(0, '127.0.0.1', r));
    callback = `http://127.0.0.1:${(rpServer.address() as { port: number }).port}/cb`;
    await createUser(w.t, (await login(w.t)).token, 'dora', 'Quiet-lantern-river-7', { email: 'dora@example.test' });
  });
  after(async () => {
    await w?.close();
    rpServer?.closeAllConnections();
    await new Promise<void>((r) => (rpServer ? rpServer.close(() => r()) : r()));
  });

  it('an administrator registers a client; its secret is shown once', async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    await page.goto(`${w.base}/admin/oidc-clients`);
    await page.getByText('No clients yet: the OpenID Provider is off.').waitFor();
    await page.getByRole('button', { name: 'Register a client' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Team wiki');
    await page.getByLabel(/Redirect URIs/).fill(callback);
    await page.getByRole('button', { name: 'Register', exact: true }).click();
    await page.getByText('Copy the client secret now.').waitFor();
    const id = await page.getByLabel('Client id').inputValue();
    const secret = await page.getByLabel('Client secret').inputValue();
    assert.match(id, /^pc_[0-9a-f]{32}$/);
    assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
    await shot(page, 'admin-oidc-client-secret');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await page.getByRole('cell', { name: 'Team wiki', exact: true }).waitFor();
    assert.ok(!(await page.content()).includes(secret));
    client = { id, secret };
    assertClean(w);
  });

  it("a person signs in to the client through Palisade's sign-in page and consent page", async () => {
    assert.ok(client, 'the client of the first test');
    const cfg = await oc.discovery(new URL(`${w.base}/oidc`), client.id, { redirect_uris: [callback] }, oc.ClientSecretBasic(client.secret), {
      execute: [oc.allowInsecureRequests],
    });
    const verifier = oc.randomPKCECodeVerifier();
    const state = oc.randomState();
    const url = oc.buildAuthorizationUrl(cfg, {
      redirect_uri: callback,
      scope: 'openid profile email',
      state,
      code_challenge: await oc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const page = await w.newPage();
    await page.goto(url.href);
    await page.getByLabel('Username or email').waitFor();
    assert.equal(new URL(page.url()).pathname, '/sign-in');
    await page.getByLabel('Username or email').fill('dora');
    await page.getByLabel('Password', { exact: true }).fill('Quiet-lantern-river-7');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Allow Team wiki to sign you in?' }).waitFor();
    await shot(page, 'oidc-consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByText('signed in at the client').waitFor();
    const back = new URL(page.url());
    assert.equal(`${back.origin}${back.pathname}`, callback);
    const tokens = await oc.authorizationCodeGrant(cfg, back, { pkceCodeVerifier: verifier, expectedState: state });
    const info = await oc.fetchUserInfo(cfg, tokens.access_token, tokens.claims()!.sub);
    assert.equal(info.preferred_username, 'dora');
    assert.equal(info.email, 'dora@example.test');
    assertClean(w);
  });

  it('the person sees the application under Connected applications and revokes it; the next sign-in there asks again [ASVS V10.7.3]', async () => {
    assert.ok(client, 'the client of the first test');
    const page = await w.newPage();
    await signIn(page, w.base, 'dora', 'Quiet-lantern-river-7');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Connected applications' }).click();
    const row = page.getByRole('row').filter({ hasText: 'Team wiki' });
    await row.waitFor();
    await row.getByText('your email address').waitFor();
    await shot(page, 'account-applications');
    await row.getByRole('button', { name: 'Revoke consent for Team wiki' }).click();
    await page.getByRole('status').filter({ hasText: 'Team wiki no longer has your consent' }).waitFor();
    await page.getByText('No application has your consent.').waitFor();
    // The same browser signs in to the client again: the consent page is back.
    const cfg = await oc.discovery(new URL(`${w.base}/oidc`), client.id, { redirect_uris: [callback] }, oc.ClientSecretBasic(client.secret), {
      execute: [oc.allowInsecureRequests],
    });
    const url = oc.buildAuthorizationUrl(cfg, {
      redirect_uri: callback,
      scope: 'openid email',
      state: oc.randomState(),
      code_challenge: await oc.calculatePKCECodeChallenge(oc.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    await page.goto(url.href);
    await page.getByRole('heading', { name: 'Allow Team wiki to sign you in?' }).waitFor();
    assertClean(w);
  });

  // Bug class: an already signed-in browser sent back to the provider's interaction was routed inside the app (its
  // not-found page) instead of loading the server's page.
  it("a signed-in browser sent to the sign-in page goes on to the provider's server page", async () => {
    const page = await w.newPage();
    await signIn(page, w.base);
    const load = page.waitForRequest((r) => r.isNavigationRequest() && new URL(r.url()).pathname === '/oidc/interaction/some-uid');
    await page.goto(`${w.base}/sign-in?next=${encodeURIComponent('/oidc/interaction/some-uid')}`);
    await load;
  });
});
