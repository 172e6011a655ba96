// ASVS V11.2.4: secret values are compared in constant time. The static rule below reads every source file of src/
// with the TypeScript parser and refuses an equality operator (===, !==, ==, !=) with an operand whose name says it
// carries a secret (token, hash, digest, MAC, signature, verifier, password, nonce, …); such comparisons go through
// src/util/safe-equal.ts (or node:crypto's timingSafeEqual on fixed-length digests). The few comparisons of
// public integrity values are listed with their reason, and the list may not go stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { ROOT_DIR } from '../helpers/cli.js';
import { safeEqual } from '../../src/util/safe-equal.js';

const SECRET_NAME = /(secret|token|mac|digest|hash|signature|verifier|password|passphrase|otp|nonce|apikey|xsrf|csrf|cookie|binding)$/i;

/** Comparisons of values that are not secret, by file and the comparison's text. */
const ALLOWED: Record<string, { text: string; why: string }[]> = {
  'src/audit/chain-digest.ts': [
    { text: 'digestV2(e) === digest', why: 'a record digest of the public audit chain' },
    { text: 'digestOf(canonOf(e, seq)) === digest', why: 'a record digest of the public audit chain' },
  ],
  'src/audit/verify.ts': [
    {
      text: 'linkHash(prev, s, link.kind, Number(link.at), link.digest) !== link.hash',
      why: 'the audit chain is public integrity data, readable by audit.read',
    },
    { text: 'cp.hash !== link.hash', why: 'a checkpoint of the public audit chain' },
    { text: 'prev !== head.hash', why: 'the head of the public audit chain' },
  ],
  'src/audit/service.ts': [{ text: 'seen.hash === c.hash', why: 'a published checkpoint hash of the audit chain' }],
  'src/backup/restore.ts': [{ text: 'head.hash !== manifest.chain.hash', why: "the archive's audit-chain head, public integrity data" }],
  'src/auth/bot-check/recaptcha.ts': [{ text: 's.recaptchaSecretKey === UNREADABLE_SECRET', why: 'a comparison with a constant marker, not a secret' }],
  'src/config/settings.ts': [
    { text: '(stored as Record<string, unknown>)[f] === UNREADABLE_SECRET', why: 'a comparison with a constant marker, not a secret' },
  ],
};

function nameOf(n: ts.Node): string | null {
  if (ts.isIdentifier(n)) return n.text;
  if (ts.isPropertyAccessExpression(n)) return n.name.text;
  if (ts.isElementAccessExpression(n) && ts.isStringLiteralLike(n.argumentExpression)) return n.argumentExpression.text;
  if (ts.isCallExpression(n)) return nameOf(n.expression);
  if (ts.isParenthesizedExpression(n) || ts.isNonNullExpression(n) || ts.isAsExpression(n)) return nameOf(n.expression);
  return null;
}

/** An operand that is no value of its own: null, undefined, a literal, a typeof, a length. */
function trivial(n: ts.Node): boolean {
  if (n.kind === ts.SyntaxKind.NullKeyword || n.kind === ts.SyntaxKind.TrueKeyword || n.kind === ts.SyntaxKind.FalseKeyword) return true;
  if (ts.isIdentifier(n) && n.text === 'undefined') return true;
  if (ts.isStringLiteralLike(n) || ts.isNumericLiteral(n) || ts.isTypeOfExpression(n)) return true;
  return ts.isPropertyAccessExpression(n) && n.name.text === 'length';
}

const EQUALITY = new Set([
  ts.SyntaxKind.EqualsEqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsEqualsToken,
  ts.SyntaxKind.EqualsEqualsToken,
  ts.SyntaxKind.ExclamationEqualsToken,
]);

/** The equality comparisons of one source text that touch a secret-named value. */
export function secretComparisons(fileName: string, source: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isBinaryExpression(n) && EQUALITY.has(n.operatorToken.kind) && !trivial(n.left) && !trivial(n.right)) {
      if ([nameOf(n.left), nameOf(n.right)].some((x) => x !== null && SECRET_NAME.test(x))) found.push(n.getText(sf));
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

test('the rule catches what it is for: a secret compared with === or !=, in any operand position [ASVS V11.2.4]', () => {
  const bad = [
    'if (presented === expectedToken) ok();',
    'const same = row.verifier != got;',
    'return a.codeHash === hmac(b);',
    "if (req.headers['x-api-token'] !== (cfg.metricsToken as string)) fail();",
    'if (computeSignature(x) === sig) go();',
  ];
  for (const line of bad) assert.equal(secretComparisons('x.ts', line).length, 1, line);
  const fine = ['if (token === undefined) x();', 'if (hash.length !== 64) x();', "if (typeof secret !== 'string') x();", 'if (kind === other) x();'];
  for (const line of fine) assert.deepEqual(secretComparisons('x.ts', line), [], line);
});

test('no secret is compared with an equality operator in src/: comparisons go through safeEqual; the exceptions are public values [ASVS V11.2.4]', () => {
  const unexpected: string[] = [];
  const used = new Set<string>();
  for (const file of sources(path.join(ROOT_DIR, 'src'))) {
    const rel = path.relative(ROOT_DIR, file).split(path.sep).join('/');
    for (const text of secretComparisons(rel, readFileSync(file, 'utf8'))) {
      const ok = ALLOWED[rel]?.find((a) => a.text === text);
      if (ok) used.add(`${rel} ${text}`);
      else unexpected.push(`${rel}: ${text}`);
    }
  }
  assert.deepEqual(unexpected, [], 'compare secrets with safeEqual (src/util/safe-equal.ts)');
  const stale = Object.entries(ALLOWED).flatMap(([f, list]) => list.filter((a) => !used.has(`${f} ${a.text}`)).map((a) => `${f}: ${a.text}`));
  assert.deepEqual(stale, [], 'an allowed comparison that no longer exists: remove it from the list');
});

test('safeEqual answers equality of strings and bytes, and false for any difference, a length difference included [ASVS V11.2.4]', () => {
  assert.equal(safeEqual('a1b2', 'a1b2'), true);
  assert.equal(safeEqual('a1b2', 'a1b3'), false);
  assert.equal(safeEqual('a1b2', 'a1b'), false);
  assert.equal(safeEqual('', ''), true);
  assert.equal(safeEqual(Buffer.from([1, 2, 3]), Uint8Array.from([1, 2, 3])), true);
  assert.equal(safeEqual(Buffer.from([1, 2, 3]), Buffer.from([1, 2, 4])), false);
  assert.equal(safeEqual('é', Buffer.from('é')), true, 'strings compare as UTF-8');
});
