import { AppError } from '../../../errors.js';
import { endpointProblem } from '../saml/settings.js';
import type { CasSettings } from '../types.js';

export type CasInput = Partial<CasSettings>;

export const CAS_DEFAULTS: Omit<CasSettings, 'serverUrl'> = {
  emailAttribute: 'mail',
  usernameAttribute: 'uid',
  groupsAttribute: 'groups',
  emailVerified: false,
  timeoutMs: 5000,
};

const invalid = (field: string, message: string) => new AppError('VALIDATION_FAILED', [{ path: `/cas/${field}`, message }]);

/** The settings after a change (or at creation, `old` null), checked as a whole. */
export function casSettings(_slug: string, old: CasSettings | null, i: CasInput): CasSettings {
  const base: CasSettings = old ?? { ...CAS_DEFAULTS, serverUrl: '' };
  const s: CasSettings = { ...base };
  for (const k of Object.keys(base) as (keyof CasSettings)[]) if (i[k] !== undefined) (s as unknown as Record<string, unknown>)[k] = i[k];
  s.serverUrl = s.serverUrl.replace(/\/+$/, '');
  const problem = endpointProblem(s.serverUrl);
  if (problem) throw invalid('serverUrl', problem);
  if (new URL(s.serverUrl).search) throw invalid('serverUrl', 'the server address may not hold a query');
  if (!Number.isInteger(s.timeoutMs) || s.timeoutMs < 200 || s.timeoutMs > 60_000) throw invalid('timeoutMs', '200 to 60000');
  return s;
}
