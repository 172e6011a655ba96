// The admin UI under test: the app listening on a real port, Debian's Chromium on its pages, every
// Content-Security-Policy violation, Trusted Types refusal and page error recorded, screenshots kept as
// test artefacts (test-artifacts/screens; SCREENSHOTS_DIR=docs/screenshots refreshes the docs' pictures).
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { makeApp, ROOT, type MakeOptions, type TestApp } from './app.js';
import { openBrowser, type TestBrowser } from './browser.js';

export const SCREENS_DIR = process.env.SCREENSHOTS_DIR ?? path.join('test-artifacts', 'screens');

export interface UiWorld {
  t: TestApp;
  base: string;
  browser: TestBrowser;
  /** Everything a page reported that a strict CSP or a healthy app would not: checked by `clean()`. */
  problems: string[];
  /** A new browser context (a person on their own device) with the recorders attached. */
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

// A plain string: tsx would wrap a compiled function with helpers the page lacks.
const RECORDER = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber);
});`;

function record(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // A 4xx from the API is logged by Chromium as a failed resource load: expected in refusal tests.
    if (/Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(text);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
}

/**
 * `at`: a fixed port and the host name the browser uses (passkeys need the configured WebAuthn origin,
 * e.g. http://localhost:<port>); the app listens on 127.0.0.1 either way.
 */
export async function startUi(o: MakeOptions = {}, at: { port?: number; hostname?: string } = {}): Promise<UiWorld> {
  const t = await makeApp(o);
  await t.app.listen({ port: at.port ?? 0, host: '127.0.0.1' });
  const { port } = t.app.server.address() as { port: number };
  const base = `http://${at.hostname ?? '127.0.0.1'}:${port}`;
  const browser = await openBrowser();
  const problems: string[] = [];
  const contexts: BrowserContext[] = [browser.context];
  await browser.context.addInitScript(RECORDER);
  record(browser.page, problems);
  let first = true;
  return {
    t,
    base,
    browser,
    problems,
    async newPage() {
      if (first) {
        first = false;
        return browser.page;
      }
      const ctx = await browser.browser.newContext();
      contexts.push(ctx);
      await ctx.addInitScript(RECORDER);
      const page = await ctx.newPage();
      record(page, problems);
      return page;
    },
    async close() {
      await browser.close();
      await t.close();
    },
  };
}

/** No CSP violation, Trusted Types refusal or script error anywhere so far. */
export function assertClean(w: UiWorld): void {
  assert.deepEqual(w.problems, [], `the pages reported problems:\n${w.problems.join('\n')}`);
}

/** A full-page screenshot, kept as a test artefact. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENS_DIR, { recursive: true });
  // From the top: a full-page picture of a scrolled page draws the sticky header in its middle.
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: path.join(SCREENS_DIR, `${name}.png`), fullPage: true });
}

/** Signs in through the sign-in page and waits for the signed-in layout. */
export async function signIn(page: Page, base: string, username = ROOT.username, password = ROOT.password): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}
