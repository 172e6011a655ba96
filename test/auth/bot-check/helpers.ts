import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { solveChallenge, type Challenge } from 'altcha-lib';
import { deriveKey } from 'altcha-lib/algorithms/pbkdf2';
import { bearer, Clock, type TestApp } from '../../helpers/app.js';

/**
 * A clock at the wall clock's time: altcha-lib checks a challenge's expiry against the wall clock
 * as well as ours, so proof-of-work tests start the service clock at real time (and move it forward).
 */
export function wallClock(): Clock {
  const c = new Clock();
  c.t = Date.now();
  return c;
}

/** Sets the bot-check area through the admin API; fails the test on a refusal. */
export async function setBotCheck(t: TestApp, admin: string, patch: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await t.app.inject({ method: 'PATCH', url: '/api/admin/settings/bot-check', headers: bearer(admin), payload: patch });
  if (res.statusCode !== 200) throw new Error(`bot-check settings refused: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** Cheap proof-of-work settings for tests (a few dozen single PBKDF2 iterations to solve). */
export const CHEAP_POW = { mode: 'pow', powMaxNumber: 20, powCost: 1 };

export async function fetchChallenge(t: TestApp, remoteAddress?: string): Promise<Challenge> {
  const res = await t.app.inject({ method: 'GET', url: '/api/auth/bot-check/challenge', ...(remoteAddress ? { remoteAddress } : {}) });
  if (res.statusCode !== 200) throw new Error(`challenge refused: ${res.statusCode} ${res.body}`);
  return res.json();
}

/** Solves a challenge with altcha-lib's own solver, as the ALTCHA widget does, and returns the payload it sends. */
export async function solve(challenge: Challenge): Promise<string> {
  const solution = await solveChallenge({ challenge, deriveKey, timeout: 20_000 });
  if (!solution) throw new Error('no solution found');
  return encodePayload(challenge, solution);
}

export function encodePayload(challenge: unknown, solution: unknown): string {
  return Buffer.from(JSON.stringify({ challenge, solution })).toString('base64');
}

export async function solvedPayload(t: TestApp, remoteAddress?: string): Promise<string> {
  return solve(await fetchChallenge(t, remoteAddress));
}

export interface SiteVerifyRequest {
  secret: string | null;
  response: string | null;
  remoteip: string | null;
  contentType: string | undefined;
}

/**
 * A local server that speaks reCAPTCHA's siteverify protocol: a form-encoded POST of `secret`,
 * `response` and `remoteip`, answered with JSON `success`, `score`, `action`, `hostname`,
 * `challenge_ts` and `error-codes`. A token is answered from `tokens`; an unknown one as Google does
 * (`invalid-input-response`), and a wrong secret with `invalid-input-secret`. `behaviour` makes it
 * misbehave: hang (never answer), garbage (not JSON), status 500.
 */
export class SiteVerifyServer {
  readonly requests: SiteVerifyRequest[] = [];
  readonly tokens = new Map<string, Record<string, unknown>>();
  behaviour: 'normal' | 'hang' | 'garbage' | 'status500' = 'normal';
  private server: Server | null = null;
  private readonly open = new Set<ServerResponse>();

  constructor(readonly secret: string) {}

  get url(): string {
    const a = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${a.port}/recaptcha/api/siteverify`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  /** A token scored as given, for `action` on host `app.example`. */
  token(name: string, score: number, action = 'login'): string {
    this.tokens.set(name, { success: true, score, action, hostname: 'app.example', challenge_ts: new Date().toISOString() });
    return name;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const form = new URLSearchParams(body);
      this.requests.push({
        secret: form.get('secret'),
        response: form.get('response'),
        remoteip: form.get('remoteip'),
        contentType: req.headers['content-type'],
      });
      if (this.behaviour === 'hang') {
        this.open.add(res);
        return;
      }
      if (this.behaviour === 'status500') {
        res.writeHead(500).end('oops');
        return;
      }
      if (req.method !== 'POST' || req.url !== '/recaptcha/api/siteverify') {
        res.writeHead(404).end();
        return;
      }
      if (this.behaviour === 'garbage') {
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not json</html>');
        return;
      }
      const answer =
        form.get('secret') !== this.secret
          ? { success: false, 'error-codes': ['invalid-input-secret'] }
          : (this.tokens.get(form.get('response') ?? '') ?? { success: false, 'error-codes': ['invalid-input-response'] });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  }

  async stop(): Promise<void> {
    for (const r of this.open) r.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}

/** A loopback URL where nothing listens: a server started and stopped again. */
export async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return `http://127.0.0.1:${port}/recaptcha/api/siteverify`;
}
