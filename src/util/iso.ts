/** Date-times as the API writes them. */
import { memoBounded } from './memo.js';

const DAY_MS = 86_400_000;
/** `YYYY-MM-DDT` of a day, kept for the days met lately (a page's dates fall on few days). */
const dayPrefix = memoBounded(4096, (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 11));
const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));
const THREE = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** The instants `toISOString` writes with a four-digit year (0001-01-01 to 9999-12-31). */
const ISO_FIRST = -62_135_596_800_000;
const ISO_LAST = 253_402_300_799_999;

/**
 * The ISO 8601 text of a stored date-time (epoch milliseconds), as `Date.prototype.toISOString` writes it. A page of
 * records writes two or more per row, `/api/auth/me` six: the day's part is kept per day and the time of day is arithmetic, about a
 * seventh of the cost of `toISOString` (issue 14). Anything else (a fraction, a year past 9999) is `toISOString`'s.
 */
export const isoOf = (v: unknown): string => {
  const ms = Number(v);
  if (!Number.isInteger(ms) || ms < ISO_FIRST || ms > ISO_LAST) return new Date(ms).toISOString();
  const day = Math.floor(ms / DAY_MS);
  const prefix = dayPrefix(day);
  let rest = ms - day * DAY_MS;
  const milli = rest % 1000;
  rest = (rest - milli) / 1000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  return `${prefix}${TWO[(rest - minute) / 60]}:${TWO[minute]}:${TWO[second]}.${THREE[milli]}Z`;
};
