import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, startServer } from '../helpers/cli.js';
import { DIALECT, PG_URL } from '../helpers/app.js';
import { openBrowser, type TestBrowser } from '../helpers/browser.js';
import { shot } from '../helpers/ui.js';

// A newcomer's first run, as the README tells it: `palisade start` on an empty data directory, the
// generated root password handed over outside the log stream, the URL on the last line, a browser sign-in.
describe('first run: from an empty data directory to a signed-in administrator in a browser', () => {
  let dataDir: string;
  let server: Awaited<ReturnType<typeof startServer>>;
  let b: TestBrowser;
  const schema = `fr_${process.pid}`;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'palisade-first-run-'));
    const port = await freePort();
    server = await startServer({
      DATA_DIR: dataDir,
      PORT: String(port),
      ...(DIALECT === 'postgres' ? { DATABASE_URL: PG_URL, DATABASE_SCHEMA: schema } : {}),
      ...(process.env.PALISADE_UI_DIR ? { PALISADE_UI_DIR: process.env.PALISADE_UI_DIR } : {}),
    });
    b = await openBrowser();
  });
  after(async () => {
    await b?.close();
    await server?.stop();
    if (DIALECT === 'postgres') {
      const pg = (await import('pg')).default;
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('hands the generated password over in a 0600 file, never on the log stream; at the printed URL it must be changed first, then signs in [ASVS V6.4.1]', async () => {
    // The "ready" line comes after listening: wait for it.
    for (let i = 0; i < 100 && !/palisade: ready; open (\S+) in a browser/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 50));
    const out = server.output();
    const url = /palisade: ready; open (\S+) in a browser/.exec(out)?.[1];
    assert.ok(url, out);
    const file = path.join(dataDir, 'initial-root-password');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const password = readFileSync(file, 'utf8').trim();
    assert.ok(password.length >= 15);
    assert.ok(!out.includes(password), 'the password is not in the start output');
    assert.ok(out.includes(file), 'the file path is printed');

    const page = b.page;
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(url);
    await page.waitForURL(/\/sign-in$/);
    await page.getByLabel('Username or email').fill('root');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // The generated password is one-time (ASVS V6.4.1): the operator chooses their own right there, then signs in.
    await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
    await page.getByLabel('New password', { exact: true }).fill('Operator-chosen-lantern-8');
    await page.getByLabel('New password again').fill('Operator-chosen-lantern-8');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('status').filter({ hasText: 'Sign in with your new password' }).waitFor();
    await page.getByLabel('Password', { exact: true }).fill('Operator-chosen-lantern-8');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Welcome, root' }).waitFor();
    await shot(page, 'first-run-home');
    assert.deepEqual(problems, []);
  });
});
