// The deployment checks screen's client logic (pure; unit-tested in test/ui/doctor.test.ts): the report as
// GET /api/admin/doctor answers it (`palisade doctor`, OPS-2), its counts in words, and the order rows are shown in.

export type CheckStatus = 'pass' | 'warn' | 'fail';

export interface DoctorCheck {
  id: string;
  title: string;
  status: CheckStatus;
  /** What was found (never a secret value). */
  detail: string;
  /** How to fix it; empty when it passes. */
  fix: string;
}

export interface DoctorReport {
  worst: CheckStatus;
  checks: DoctorCheck[];
}

/** Worst first: the order of the table and of the counts. */
export const STATUSES: readonly CheckStatus[] = ['fail', 'warn', 'pass'];

const RANK: Record<CheckStatus, number> = { fail: 0, warn: 1, pass: 2 };

/** Failures first, then warnings, then passes; the server's order within each (a stable sort). */
export function worstFirst(checks: readonly DoctorCheck[]): DoctorCheck[] {
  return [...checks].sort((a, b) => RANK[a.status] - RANK[b.status]);
}

export function countsOf(checks: readonly DoctorCheck[]): Record<CheckStatus, number> {
  const n: Record<CheckStatus, number> = { fail: 0, warn: 0, pass: 0 };
  for (const c of checks) n[c.status] += 1;
  return n;
}

/** The badge's words: the status itself, never colour alone. */
export const STATUS_TEXT: Record<CheckStatus, string> = { pass: 'pass', warn: 'warn', fail: 'fail' };

/** The summary line: "Worst: fail. 1 failed, 4 warnings, 12 passed (17 checks)." */
export function summaryOf(r: DoctorReport): string {
  const n = countsOf(r.checks);
  const plural = (k: number, one: string, many: string) => `${k} ${k === 1 ? one : many}`;
  return `Worst: ${r.worst}. ${n.fail} failed, ${plural(n.warn, 'warning', 'warnings')}, ${n.pass} passed (${plural(r.checks.length, 'check', 'checks')}).`;
}

/** The summary's alert class: the worst status's colour (the words say it too). */
export const ALERT_CLASS: Record<CheckStatus, string> = { pass: 'ok', warn: 'warn', fail: 'error' };

/** A check's text split at its `backquoted` commands, drawn as code (as text nodes: never as HTML). */
export function codeParts(text: string): Array<{ text: string; code: boolean }> {
  return text
    .split('`')
    .map((t, i) => ({ text: t, code: i % 2 === 1 }))
    .filter((p) => p.text !== '');
}
