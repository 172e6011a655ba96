/**
 * APP_KEY checks (OPS-2). A key must be long, and its secret part (what is left once published example
 * phrases, repetitions and runs such as "aaaa" or "abcd" are taken out) must still be long and varied.
 * That refuses the placeholders of tutorials and templates whatever their case, padding or repetition,
 * and lets any random key through: the checks remove nothing of substance from random text.
 */

export const APP_KEY_MIN_LENGTH = 32;
/** Characters that must remain once placeholders and filler are removed (over 120 bits even as base36). */
const MIN_SECRET_CHARS = 24;
const MIN_DISTINCT = 8;

/**
 * Published example keys and the vocabulary of placeholders, compared on lower-case letters and digits
 * only. Exact keys copied from docs and templates are listed whole; they are then removed wherever they
 * appear, so no padding or repetition hides them.
 */
const PUBLISHED = [
  // Template and tutorial keys seen verbatim in the wild.
  'base64:2fl+Ktvkfl+Fuz4Qp/A75G2RTiWVA/ZoKZvp6fiiM10=', // Laravel testbench / phpunit.xml
  'base64:HqSU9nOyo9mZDTKiOpme/DavOMnIdvlpxKVHkb5p+HI=',
  '255d861b-5ea1-5996-9aa3-922530ec40b1',
  '6116487b-cda1-52c2-b5b5-c8022c45e263', // Directus docker-compose
  'your-256-bit-secret',
  'a-string-secret-at-least-256-bits-long', // jwt.io
  'keyboard cat',
  'shhhhh',
  'secretOrPrivateKey',
  'SomeRandomString',
  'YourSecretKey',
  'django-insecure',
  'the quick brown fox jumps over the lazy dog',
  'lorem ipsum dolor sit amet',
  // Placeholder vocabulary.
  'please',
  'change',
  'changeme',
  'changethis',
  'replace',
  'replacewith',
  'replaceme',
  'your',
  'yours',
  'mysecret',
  'secret',
  'secrets',
  'super',
  'supersecret',
  'topsecret',
  'private',
  'privatekey',
  'appkey',
  'app_key',
  'application',
  'signing',
  'token',
  'jwtsecret',
  'jwt',
  'key',
  'keys',
  'password',
  'passwd',
  'pass',
  'default',
  'example',
  'sample',
  'placeholder',
  'dummy',
  'test',
  'testing',
  'development',
  'local',
  'insecure',
  'unsafe',
  'notsecret',
  'random',
  'string',
  'long',
  'strong',
  'value',
  'here',
  'generate',
  'generated',
  'real',
  'least',
  'characters',
  'chars',
  'bits',
  'bytes',
  'base64',
  'hex',
  'laravel',
  'directus',
  'django',
  'rails',
  'express',
  'session',
  'cookie',
  'some',
  'something',
  'this',
  'that',
  'with',
  'must',
  'should',
  'very',
  'foo',
  'bar',
  'baz',
  'qux',
  'admin',
  'root',
  'hello',
  'world',
  'todo',
  'fixme',
  'xxx',
  'abc',
  'qwerty',
  'qwertyuiop',
  'asdf',
  'asdfghjkl',
  'zxcvbnm',
  'letmein',
  'iloveyou',
  'welcome',
  'monkey',
  'dragon',
  'palisade',
]
  .map((p) => norm(p))
  .filter((p) => p.length >= 3)
  // Longest first, so that a whole example goes before the words inside it.
  .sort((a, b) => b.length - a.length);

function norm(s: string): string {
  return s
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

/** The smallest p such that s[i] === s[i + p] for every i: how long the repeated unit is. */
function period(s: string): number {
  if (s.length === 0) return 0;
  const fail = new Array<number>(s.length).fill(0);
  for (let i = 1, k = 0; i < s.length; i++) {
    while (k > 0 && s[i] !== s[k]) k = fail[k - 1]!;
    if (s[i] === s[k]) k++;
    fail[i] = k;
  }
  return s.length - fail[s.length - 1]!;
}

/** Keeps only the first two characters of a run that repeats or steps by one ("aaaa", "abcd", "9876", "----"). */
function collapseRuns(s: string): string {
  let out = '';
  let len = 0;
  let step = NaN;
  for (let i = 0; i < s.length; i++) {
    const d = i === 0 ? NaN : s.charCodeAt(i) - s.charCodeAt(i - 1);
    if (Math.abs(d) <= 1 && (len === 1 || d === step)) len++;
    else len = Math.abs(d) <= 1 ? 2 : 1;
    step = d;
    if (len < 3) out += s[i];
  }
  return out;
}

/**
 * What is left of the key as secret: every published phrase removed (matched on letters and digits,
 * the separators inside a match removed with it), runs collapsed, a repeated unit counted once.
 */
export function secretPart(key: string): string {
  const chars = [...key.normalize('NFKC').toLowerCase()];
  const removed = new Array<boolean>(chars.length).fill(false);
  for (const phrase of PUBLISHED) {
    const idx = chars.flatMap((c, i) => (!removed[i] && /[a-z0-9]/.test(c) ? [i] : []));
    const view = idx.map((i) => chars[i]).join('');
    for (let at = view.indexOf(phrase); at !== -1; at = view.indexOf(phrase, at + 1)) {
      // A phrase may be written with one separator between its characters ("your-256-bit"), not spread out.
      const span = idx.slice(at, at + phrase.length);
      if (span.some((v, k) => k > 0 && v - span[k - 1]! > 2)) continue;
      for (let i = span[0]!; i <= span[span.length - 1]!; i++) removed[i] = true;
    }
  }
  const rest = collapseRuns(chars.filter((_, i) => !removed[i]).join(''));
  const p = period(rest);
  return p <= rest.length / 2 ? rest.slice(0, p) : rest;
}

/** The problem with a key, or null when it may sign tokens. */
export function checkAppKey(key: string): string | null {
  if (key.length < APP_KEY_MIN_LENGTH) return `APP_KEY must be at least ${APP_KEY_MIN_LENGTH} characters`;
  const p = period(key);
  if (p <= key.length / 2) return 'APP_KEY repeats a short pattern; generate a random key (openssl rand -base64 48)';
  const secret = secretPart(key);
  if (secret.length < MIN_SECRET_CHARS || new Set(secret).size < MIN_DISTINCT) {
    return 'APP_KEY is a known public example or placeholder, or too little of it is random; generate a random key (openssl rand -base64 48)';
  }
  return null;
}
