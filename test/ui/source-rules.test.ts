import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

// What the page policy (trusted-types 'none', no inline style) would refuse at run time, refused at test time
// too, so that a screen no browser test reaches cannot carry it either.
const UI = path.resolve(import.meta.dirname, '../../ui/src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : /\.(svelte|ts)$/.test(n) ? [p] : [];
  });
}

const RULES: Array<[RegExp, string]> = [
  [/\{@html\b/, '{@html} writes HTML into the page'],
  [/\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML|document\.write\(/, 'an HTML sink'],
  [/\beval\(|new Function\(/, 'code from text'],
  [/<[a-zA-Z][^>]*\sstyle=["{]/, 'an inline style attribute (use a class or style:prop)'],
  [/(localStorage|sessionStorage)\b/, 'web storage (no secret or token is kept in the browser)'],
  [/https?:\/\/(?!127\.0\.0\.1|localhost)[a-z0-9.-]+\.[a-z]{2,}/i, 'an address on another origin'],
];

describe('admin UI sources', () => {
  it('use no HTML sink, eval, inline style, web storage or outside address', () => {
    const found: string[] = [];
    for (const f of files(UI)) {
      const text = readFileSync(f, 'utf8');
      for (const [re, what] of RULES) if (re.test(text)) found.push(`${path.relative(UI, f)}: ${what}`);
    }
    assert.deepEqual(found, []);
  });
});
