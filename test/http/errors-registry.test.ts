import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ERRORS } from '../../src/errors.js';

test('docs/errors.md and the error registry list the same codes with the same statuses and messages', () => {
  const md = readFileSync(path.resolve(import.meta.dirname, '../../docs/errors.md'), 'utf8');
  const documented = new Map<string, { status: number; message: string }>();
  for (const line of md.split('\n')) {
    const m = /^\| `([A-Z_]+)` \| (\d{3}) \| ([^|]+) \|/.exec(line);
    if (m) documented.set(m[1]!, { status: Number(m[2]), message: m[3]!.trim() });
  }
  const registry = new Map(Object.entries(ERRORS).map(([code, e]) => [code, { status: e.status, message: e.message }]));
  assert.deepEqual([...documented.keys()].sort(), [...registry.keys()].sort());
  for (const [code, e] of registry) assert.deepEqual(documented.get(code), e, code);
});

test('codes are UPPER_SNAKE and statuses are 4xx or 5xx', () => {
  for (const [code, e] of Object.entries(ERRORS)) {
    assert.match(code, /^[A-Z][A-Z0-9_]+$/);
    assert.ok(e.status >= 400 && e.status < 600);
  }
});
