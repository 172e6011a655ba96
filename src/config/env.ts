import { readFileSync } from 'node:fs';
import { parseDuration } from './durations.js';

export type Env = Record<string, string | undefined>;

/** Reads VAR, or the file named by VAR_FILE (OPS-2). Both set is a problem. */
export function secretVar(env: Env, name: string, problems: string[]): { value: string | undefined; fromFile: boolean } {
  const direct = env[name] === '' ? undefined : env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) {
    problems.push(`${name} and ${name}_FILE are both set; set one`);
    return { value: undefined, fromFile: false };
  }
  if (file !== undefined) {
    try {
      return { value: readFileSync(file, 'utf8').trim(), fromFile: true };
    } catch {
      problems.push(`${name}_FILE: cannot read ${file}`);
      return { value: undefined, fromFile: true };
    }
  }
  return { value: direct === '' ? undefined : direct, fromFile: false };
}

/** "15m" for 900, "90d" for 7776000: the shortest exact spelling in the env's own duration syntax. */
export function formatSeconds(s: number): string {
  if (s > 0 && s % 86400 === 0) return `${s / 86400}d`;
  if (s > 0 && s % 3600 === 0) return `${s / 3600}h`;
  if (s > 0 && s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** An integer from min to max; unset keeps the default. The problem names the variable and its range. */
export function intVar(env: Env, name: string, def: number, min: number, max: number, problems: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    problems.push(`${name} must be an integer from ${min} to ${max}`);
    return def;
  }
  return Number(raw);
}

/** A duration such as 900, 15m, 8h or 7d, in seconds, at least min (and at most max when given). */
export function durationVar(env: Env, name: string, def: number, min: number, problems: string[], max?: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const s = parseDuration(raw);
  if (s === null || s < min || (max !== undefined && s > max)) {
    const range = max === undefined ? `at least ${min}s` : `from ${formatSeconds(min)} to ${formatSeconds(max)}`;
    problems.push(`${name} must be a duration such as 900, 15m, 8h or 7d, ${range}`);
    return def;
  }
  return s;
}

/** true/1 or false/0; unset keeps the default. */
export function boolVar(env: Env, name: string, problems: string[], def = false): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (raw === 'false' || raw === '0') return false;
  if (raw === 'true' || raw === '1') return true;
  problems.push(`${name} must be true or false`);
  return def;
}
