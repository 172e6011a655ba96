import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { AppError } from '../../src/errors.js';
import { clamdScanner, parseScannerUrl, type ClamdAddress } from '../../src/files/scanner.js';
import { startClamd, TEST_MARKER, type TestClamd } from '../helpers/clamav.js';

const TIMEOUT = 500;

function isCode(code: string) {
  return (e: unknown) => e instanceof AppError && e.code === code;
}

/** A plain TCP peer on a spare loopback port that does what `onConnection` says: a clamd that misbehaves. */
async function peer(onConnection: (s: Socket) => void): Promise<{ address: ClamdAddress; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onConnection(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: { host: '127.0.0.1', port },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function elapsed<T>(p: Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const start = performance.now();
  const [result] = await Promise.allSettled([p]);
  return { ms: performance.now() - start, result: result! };
}

describe('clamd scanner against a real clamd', () => {
  let clamd: TestClamd;
  before(async () => {
    clamd = await startClamd();
  });
  after(() => clamd?.stop());
  const scanner = () => clamdScanner({ address: clamd.address, timeoutMs: 5000 });

  test('clean bytes are clean', async () => {
    assert.deepEqual(await scanner().scan(Buffer.from('hello, quarantine\n')), { verdict: 'clean' });
    assert.deepEqual(await scanner().scan(Buffer.alloc(0)), { verdict: 'clean' });
    assert.deepEqual(await scanner().scan(randomBytes(300_000)), { verdict: 'clean' });
  });

  test('the test file is infected, with our signature name', async () => {
    assert.deepEqual(await scanner().scan(clamd.infected), { verdict: 'infected', signature: clamd.signature });
  });

  test('the marker in the middle of a larger buffer is found, across the client chunk boundary', async () => {
    // The client sends 64 KiB chunks: put the marker across the second boundary.
    const at = 2 * 64 * 1024 - 10;
    const big = Buffer.concat([randomBytes(at), Buffer.from(TEST_MARKER), randomBytes(500_000)]);
    assert.deepEqual(await scanner().scan(big), { verdict: 'infected', signature: clamd.signature });
  });

  test('a stream of many small chunks with the marker split between two of them is infected; without it clean', async () => {
    const chunks = (withMarker: boolean) => {
      const out: Buffer[] = [];
      for (let i = 0; i < 400; i++) out.push(randomBytes(1000));
      if (withMarker) out.splice(200, 0, Buffer.from(TEST_MARKER.slice(0, 11)), Buffer.from(TEST_MARKER.slice(11)));
      return out;
    };
    assert.deepEqual(await scanner().scan(Readable.from(chunks(true))), { verdict: 'infected', signature: clamd.signature });
    assert.deepEqual(await scanner().scan(Readable.from(chunks(false))), { verdict: 'clean' });
    // Text chunks too (a stream in string mode).
    assert.deepEqual(await scanner().scan(Readable.from(['abc ', TEST_MARKER, ' def'])), { verdict: 'infected', signature: clamd.signature });
  });

  test('scans run in parallel on one scanner, each with its own verdict', async () => {
    const s = scanner();
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => s.scan(i % 2 ? clamd.infected : Buffer.from(`clean ${i}`))));
    assert.deepEqual(
      results.map((r) => r.verdict),
      results.map((_, i) => (i % 2 ? 'infected' : 'clean')),
    );
  });

  test("a stream longer than clamd's StreamMaxLength is FILE_TOO_LARGE_TO_SCAN, never clean", async () => {
    const tooBig = Buffer.alloc(clamd.streamMaxLength + 100_000, 0x41);
    // Several times: clamd's reply and its closing race our writes (the client tells both apart, D242).
    for (let i = 0; i < 5; i++) {
      await assert.rejects(scanner().scan(tooBig), isCode('FILE_TOO_LARGE_TO_SCAN'));
      await assert.rejects(scanner().scan(Readable.from([tooBig.subarray(0, 1_000_000), tooBig.subarray(1_000_000)])), isCode('FILE_TOO_LARGE_TO_SCAN'));
    }
    // Just under the limit is scanned.
    assert.deepEqual(await scanner().scan(Buffer.alloc(clamd.streamMaxLength - 1000, 0x41)), { verdict: 'clean' });
  });

  test('an input stream that fails rejects with its own error, not a verdict', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk read failed'));
      },
    });
    await assert.rejects(scanner().scan(failing), /disk read failed/);
  });

  test('ping answers true', async () => {
    assert.equal(await scanner().ping(), true);
  });
});

describe('clamd scanner when clamd cannot help (bounded, fails closed)', () => {
  test('a stopped clamd: SCANNER_UNAVAILABLE at once, and ping false', async () => {
    const gone = await startClamd();
    await gone.stop();
    const s = clamdScanner({ address: gone.address, timeoutMs: 5000 });
    const { ms, result } = await elapsed(s.scan(Buffer.from('x')));
    assert.equal(result.status, 'rejected');
    assert.ok(isCode('SCANNER_UNAVAILABLE')((result as PromiseRejectedResult).reason));
    assert.ok(ms < 1000, `took ${ms} ms`);
    assert.equal(await s.ping(), false);
  });

  test('a closed TCP port: SCANNER_UNAVAILABLE at once', async () => {
    const p = await peer(() => undefined);
    await p.close();
    const { ms, result } = await elapsed(clamdScanner({ address: p.address, timeoutMs: 5000 }).scan(Buffer.from('x')));
    assert.ok(result.status === 'rejected' && isCode('SCANNER_UNAVAILABLE')(result.reason));
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  test('a peer that reads everything and never answers: SCANNER_UNAVAILABLE after the timeout; ping false', async () => {
    const p = await peer((s) => s.resume());
    try {
      const s = clamdScanner({ address: p.address, timeoutMs: TIMEOUT });
      const input = Readable.from([randomBytes(200_000)]);
      const { ms, result } = await elapsed(s.scan(input));
      assert.ok(result.status === 'rejected' && isCode('SCANNER_UNAVAILABLE')(result.reason));
      assert.ok(ms >= TIMEOUT - 50 && ms < TIMEOUT + 1500, `took ${ms} ms`);
      assert.equal(input.destroyed, true, 'the input stream is closed after a failed scan');
      const ping = await elapsed(s.ping());
      assert.deepEqual(ping.result, { status: 'fulfilled', value: false });
      assert.ok(ping.ms < TIMEOUT + 1500, `ping took ${ping.ms} ms`);
    } finally {
      await p.close();
    }
  });

  test('a peer that accepts and never reads (writes back up): SCANNER_UNAVAILABLE after the timeout', async () => {
    const p = await peer((s) => s.pause());
    try {
      const { ms, result } = await elapsed(clamdScanner({ address: p.address, timeoutMs: TIMEOUT }).scan(randomBytes(20 * 1024 * 1024)));
      assert.ok(result.status === 'rejected' && isCode('SCANNER_UNAVAILABLE')(result.reason));
      assert.ok(ms < TIMEOUT + 3000, `took ${ms} ms`);
    } finally {
      await p.close();
    }
  });

  test('a peer that closes without a reply, or answers anything but OK/FOUND, is SCANNER_UNAVAILABLE, never clean', async () => {
    // 'stream: OK' on the first bytes: an answer before the end of the file did not scan it.
    for (const reply of [null, 'stream: ERROR\0', 'garbage\0', 'stream: OK but not quite\0', 'x'.repeat(5000), 'stream: OK\0']) {
      const p = await peer((s) => {
        s.once('data', () => (reply === null ? s.destroy() : s.end(reply)));
      });
      try {
        await assert.rejects(clamdScanner({ address: p.address, timeoutMs: 2000 }).scan(randomBytes(300_000)), isCode('SCANNER_UNAVAILABLE'), String(reply));
      } finally {
        await p.close();
      }
    }
  });

  test('a peer that closes the connection while the file is sent, and does not answer PING: SCANNER_UNAVAILABLE', async () => {
    const p = await peer((s) => {
      let got = 0;
      s.on('data', (d: Buffer) => {
        got += d.length;
        if (got > 100_000) s.destroy();
      });
    });
    try {
      const { ms, result } = await elapsed(clamdScanner({ address: p.address, timeoutMs: TIMEOUT }).scan(randomBytes(5 * 1024 * 1024)));
      assert.ok(result.status === 'rejected' && isCode('SCANNER_UNAVAILABLE')(result.reason), String((result as PromiseRejectedResult).reason));
      assert.ok(ms < 2 * TIMEOUT + 1500, `took ${ms} ms`);
    } finally {
      await p.close();
    }
  });

  test('a hostile signature name is reduced to printable ASCII of bounded length [ASVS V1.3.3]', async () => {
    const p = await peer((s) => {
      s.once('data', () => s.end(`stream: Evil\x1b[31m\r\nFAKE LOG LINE\u00e9${'A'.repeat(500)} FOUND\0`, 'latin1'));
    });
    try {
      const v = await clamdScanner({ address: p.address, timeoutMs: 2000 }).scan(Buffer.from('x'));
      assert.equal(v.verdict, 'infected');
      const name = (v as { signature: string }).signature;
      assert.match(name, /^[\x20-\x7e]{1,128}$/);
      assert.ok(name.startsWith('Evil?[31m??FAKE LOG LINE?A'), name);
    } finally {
      await p.close();
    }
  });

  test('a bad timeout is a TypeError at construction', () => {
    assert.throws(() => clamdScanner({ address: { socket: '/x' }, timeoutMs: 0 }), TypeError);
  });
});

describe('parseScannerUrl', () => {
  test('accepts clamd://host:port and clamd:///socket', () => {
    assert.deepEqual(parseScannerUrl('clamd://127.0.0.1:3310'), { address: { host: '127.0.0.1', port: 3310 } });
    assert.deepEqual(parseScannerUrl('clamd://clamav.internal:3310/'), { address: { host: 'clamav.internal', port: 3310 } });
    assert.deepEqual(parseScannerUrl('clamd://[::1]:3310'), { address: { host: '::1', port: 3310 } });
    assert.deepEqual(parseScannerUrl('clamd:///run/clamav/clamd.ctl'), { address: { socket: '/run/clamav/clamd.ctl' } });
    assert.deepEqual(parseScannerUrl('clamd:///tmp/a%20b.sock'), { address: { socket: '/tmp/a b.sock' } });
  });

  test('refuses anything else, without repeating the URL', () => {
    for (const url of [
      '',
      'clamd',
      'http://127.0.0.1:3310',
      'clamd:/run/clamd.sock',
      'clamd://host',
      'clamd://host:0',
      'clamd://host:70000',
      'clamd://user:s3cret@host:3310',
      'clamd://host:3310/path',
      'clamd://host:3310?x=1',
      'clamd:///run/../tmp/clamd.sock',
      'clamd:///var/run/clamav/',
      'clamd://',
      'clamd:///',
    ]) {
      const r = parseScannerUrl(url);
      if (!('problem' in r)) assert.fail(`accepted ${url}`);
      if (url.length > 12) assert.ok(!r.problem.includes(url), r.problem);
      assert.ok(!r.problem.includes('s3cret'), r.problem);
    }
  });
});
