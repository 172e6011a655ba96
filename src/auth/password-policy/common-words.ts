import type { Blocklist } from './blocklist.js';

/**
 * Finding a common password under padding (AUTH-7, PASSWORD_BLOCKLIST). People pad a common word with
 * digits and symbols ("Password123456789!", "!!Dragon2024", "P@ssw0rd#1"), repeat it ("Passw0rd!Passw0rd!"),
 * space or dot its letters ("P.a.s.s.w.o.r.d.1!"), split it ("Pass-word-2024!!"), or spell it with
 * fullwidth or accented letters ("Ｐａｓｓｗｏｒｄ1!", "Pässwörd123456!"); all of that adds little against a
 * guesser who tries exactly that. The checks stay cheap: every candidate is one binary search on disk, and
 * a password yields a bounded, de-duplicated set of candidates (at most MAX_LOOKUPS lookups).
 */

const LEET: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, { 0: 'o', 1: 'i', 3: 'e', 4: 'a', 5: 's', 7: 't', '@': 'a', $: 's', '!': 'i' }),
);
/**
 * The l33t characters that are nearly always letters inside a word. "1" and "!" are left out: they are
 * just as often the padding between copies ("Passw0rd1Passw0rd1"), so this reading cuts there.
 */
const LEET_SURE: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, { 0: 'o', 3: 'e', 4: 'a', 5: 's', 7: 't', '@': 'a', $: 's' }),
);

const LETTER = /\p{L}/u;
const UPPER = /\p{Lu}/u;
const LOWER = /\p{Ll}/u;
/** Characters put between words or between the letters of one word. */
const SEPARATORS = /[\s._-]+/gu;
/** Single characters each separated by one separator, three or more ("P a s s", "p.a.s.s", "d-o-g"). */
const SPACED_LETTERS = /(?<![^\s._-])[^\s._-](?:[\s._-][^\s._-]){2,}(?![^\s._-])/gu;
/** How far a word may reach into a run of l33t characters around it ("$ummer", "dragon!"). */
const MAX_LEET_EXTENT = 6;
/** Words shorter than this are too likely to be on any list by chance to mean anything on their own. */
const MIN_WORD = 4;
/** Letters outside the word that still count as padding ("My" in "MyPassword2024!"). */
const MAX_STRAY_LETTERS = 2;
/** Upper bound on lookups for one password, whatever its length. */
const MAX_LOOKUPS = 400;

export const leetOf = (s: string): string => [...s].map((ch) => LEET[ch] ?? ch).join('');

/** Accents and other combining marks removed ("Pässwörd" -> "Password"); for the blocklist only. */
export const foldDiacritics = (s: string): string =>
  s
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .normalize('NFKC');

/** Single letters separated by single separators joined up ("P.a.s.s.w.o.r.d.1!" -> "Password.1!"). */
export const despace = (s: string): string => s.replace(SPACED_LETTERS, (run) => run.replace(SEPARATORS, ''));

/** Words split by separators joined up ("Pass-word-2024!!" -> "Password2024!!"). */
export const joinWords = (s: string): string => s.replace(SEPARATORS, '');

/**
 * The repeated unit when the string is two or more copies of it (a final partial copy allowed):
 * "passw0rd!passw0rd!" -> "passw0rd!". Smallest period by the KMP failure function, linear time.
 */
export function repeatedUnit(s: string): string | null {
  const ch = [...s];
  const n = ch.length;
  if (n < 2) return null;
  const fail = new Array<number>(n).fill(0);
  for (let i = 1, k = 0; i < n; i++) {
    while (k > 0 && ch[i] !== ch[k]) k = fail[k - 1]!;
    if (ch[i] === ch[k]) k++;
    fail[i] = k;
  }
  const period = n - fail[n - 1]!;
  return period * 2 <= n ? ch.slice(0, period).join('') : null;
}

/**
 * The word inside a padded string: without its leading and trailing digits and symbols, whatever
 * their share, l33t-normalised, and also reaching into l33t characters next to it. Empty when the
 * string holds no letter.
 */
export function cores(s: string): string[] {
  const ch = [...s];
  let i = 0;
  while (i < ch.length && !LETTER.test(ch[i]!)) i++;
  let j = ch.length;
  while (j > i && !LETTER.test(ch[j - 1]!)) j--;
  if (i >= j) return [];
  const starts = [i];
  for (let k = i - 1; k >= 0 && LEET[ch[k]!] !== undefined && starts.length <= MAX_LEET_EXTENT; k--) starts.push(k);
  const ends = [j];
  for (let k = j; k < ch.length && LEET[ch[k]!] !== undefined && ends.length <= MAX_LEET_EXTENT; k++) ends.push(k + 1);
  const out = new Set<string>([ch.slice(i, j).join('')]);
  for (const a of starts) for (const b of ends) out.add(leetOf(ch.slice(a, b).join('')));
  return [...out];
}

/** The words a (lower-case) string may stand for: its cores, and the cores of its repeated unit. */
function candidates(s: string): string[] {
  const cs = cores(s);
  const out = new Set(cs);
  for (const c of new Set([s, leetOf(s), cs[0] ?? ''])) {
    const unit = repeatedUnit(c);
    if (unit !== null) for (const u of cores(unit)) out.add(u);
  }
  return [...out];
}

interface Piece {
  /** Lower-cased, l33t characters as read by the cut. */
  text: string;
  /** Real letters in it (a l33t character read as a letter is not one). */
  letters: number;
}

/**
 * One way of cutting a password into pieces: 'wordish' cuts at characters that cannot be part of a
 * (l33t) word and keeps l33t characters as typed; 'letters' cuts at every non-letter; 'sure' reads the
 * unambiguous l33t characters as letters first and cuts at everything else, so "Passw0rd1Passw0rd1" is
 * two words, not "passw" and "rd". With camel, also between a lower-case and an upper-case letter.
 */
function cut(s: string, mode: 'wordish' | 'letters' | 'sure', camel: boolean): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  let letters = 0;
  let prevLower = false;
  const flush = () => {
    if (letters > 0) pieces.push({ text: text.toLowerCase(), letters });
    text = '';
    letters = 0;
    prevLower = false;
  };
  for (const ch of s) {
    if (LETTER.test(ch)) {
      if (camel && prevLower && UPPER.test(ch)) flush();
      text += ch;
      letters++;
      prevLower = LOWER.test(ch);
      continue;
    }
    const asLetter = mode === 'wordish' ? (LEET[ch] !== undefined ? ch : undefined) : mode === 'sure' ? LEET_SURE[ch] : undefined;
    if (asLetter === undefined) flush();
    else {
      text += asLetter;
      prevLower = false;
    }
  }
  flush();
  return pieces;
}

export interface CommonWordResult {
  /** The password is a blocklisted word, or one padded with digits, symbols or copies of itself. */
  blocked: boolean;
  /** Whole-password forms (as typed, l33t-normalised, without padding), for the context-word rule. */
  variants: string[];
}

/** The spellings of a password looked at: as typed, letters unspaced, words joined (each NFKC). */
function forms(password: string): string[] {
  return [...new Set([password, despace(password), joinWords(password)])];
}

export function commonWordCheck(password: string, list: Blocklist): CommonWordResult {
  const typed = password.normalize('NFKC');
  const folded = foldDiacritics(typed);
  const plain = forms(typed);
  const all = [...new Set([...plain, ...(folded === typed ? [] : forms(folded))])];

  const wholeOf = (f: string): string[] => {
    const lower = f.toLowerCase();
    const leet = leetOf(lower);
    return [lower, leet, ...candidates(lower), ...candidates(leet)];
  };
  const variants = [...new Set(plain.flatMap(wholeOf))];

  const seen = new Map<string, boolean>();
  let lookups = 0;
  const has = (w: string): boolean => {
    let v = seen.get(w);
    if (v === undefined) {
      if (lookups >= MAX_LOOKUPS) return false;
      lookups++;
      v = list.has(w);
      seen.set(w, v);
    }
    return v;
  };
  const result = (blocked: boolean): CommonWordResult => ({ blocked, variants });

  // The whole password (in each spelling) is a listed word, padded or repeated.
  for (const f of all) if ([...new Set(wholeOf(f))].some(has)) return result(true);

  // A single common word, repeated or padded anywhere: every piece of the password is either that word
  // or holds at most MAX_STRAY_LETTERS letters in all. Two different words or more are left to the other rules.
  const wordIn = (piece: string): string | undefined => {
    const hit = candidates(piece).find((c) => [...c].length >= MIN_WORD && has(c));
    return hit === undefined ? undefined : leetOf(hit);
  };
  for (const f of all) {
    for (const pieces of [cut(f, 'wordish', false), cut(f, 'wordish', true), cut(f, 'letters', true), cut(f, 'sure', true)]) {
      let word: string | undefined;
      let otherLetters = 0;
      let single = true;
      for (const piece of pieces) {
        const hit = wordIn(piece.text);
        if (hit === undefined) otherLetters += piece.letters;
        else if (word === undefined) word = hit;
        else if (word !== hit) single = false;
        if (!single || otherLetters > MAX_STRAY_LETTERS) break;
      }
      if (single && word !== undefined && otherLetters <= MAX_STRAY_LETTERS) return result(true);
    }
  }
  return result(false);
}
