import type { Services } from '../services.js';
import type { DoctorReport } from '../doctor/index.js';
import { toStdout } from './out.js';

const LABEL = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' } as const;

/** The report as text: one line per check, its detail, and the fix under each that does not pass; a summary last. */
export function formatReport(r: DoctorReport): string {
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`${LABEL[c.status]}  ${c.id}: ${c.title}`);
    lines.push(`      ${c.detail}`);
    if (c.fix) lines.push(`      fix: ${c.fix}`);
  }
  const n = (s: string) => r.checks.filter((c) => c.status === s).length;
  lines.push(
    '',
    `${n('pass')} passed, ${n('warn')} warnings, ${n('fail')} failed: ${r.worst === 'pass' ? 'ready' : r.worst === 'warn' ? 'review the warnings' : 'not ready for production'}`,
  );
  return `${lines.join('\n')}\n`;
}

/** `palisade doctor [--json]`: exit 0 when every check passes, 1 with warnings, 2 with a failure. */
export async function doctorCommand(s: Services, json: boolean): Promise<number> {
  const r = await s.doctor.run();
  toStdout(json ? `${JSON.stringify({ worst: r.worst, checks: r.checks }, null, 2)}\n` : formatReport(r));
  return r.exitCode;
}

/** At each start: every check that does not pass, as a warning line of the system log (`doctor.warning`). */
export async function bootWarnings(s: Services): Promise<void> {
  const r = await s.doctor.run();
  for (const c of r.checks)
    if (c.status !== 'pass') s.logger.warn({ event: 'doctor.warning', check: c.id, status: c.status, detail: c.detail, fix: c.fix }, c.title);
}
