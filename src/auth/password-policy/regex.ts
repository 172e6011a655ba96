import vm from 'node:vm';
import safeRegex from 'safe-regex2';
import Type, { type Static } from 'typebox';

/** A custom password rule: its pattern must match the password, else its message is shown. */
export const CustomRuleSchema = Type.Object(
  {
    pattern: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'A JavaScript regular expression the password must match. Checked for catastrophic backtracking.',
    }),
    flags: Type.Optional(Type.String({ maxLength: 4, pattern: '^[imsu]*$' })),
    message: Type.String({ minLength: 1, maxLength: 200, description: 'Shown to the user when the password does not match.' }),
  },
  { additionalProperties: false },
);
export type CustomRule = Static<typeof CustomRuleSchema>;

/** CPU budget of one custom rule on one password. Sane patterns need microseconds. */
const RUN_BUDGET_MS = 100;
/** Inputs that make ambiguous patterns backtrack, tried when a rule is saved. */
const PROBES = ['a', '0', ' ', 'aA1!', 'ab', '-', '.', '\u00e9'].flatMap((u) => [
  `${u.repeat(Math.floor(64 / u.length))}\u0001`,
  `${u.repeat(Math.floor(1024 / u.length) - 1)}\u0001`,
]);

const sandbox = vm.createContext(Object.create(null) as object);
const runner = new vm.Script('re.test(input)');

/** Runs a rule on a password with a hard CPU budget; null when the budget ran out. */
export function runRule(re: RegExp, input: string, budgetMs = RUN_BUDGET_MS): boolean | null {
  const ctx = sandbox as { re?: RegExp; input?: string };
  ctx.re = re;
  ctx.input = input;
  re.lastIndex = 0;
  try {
    return runner.runInContext(sandbox, { timeout: budgetMs }) === true;
  } catch (e) {
    if ((e as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') return null;
    throw e;
  } finally {
    ctx.re = undefined;
    ctx.input = undefined;
  }
}

export function compileRule(r: CustomRule): RegExp {
  return new RegExp(r.pattern, r.flags ?? '');
}

/**
 * Problems with a custom rule: it must compile, have no backreferences, pass safe-regex2's
 * star-height check, and finish quickly on inputs that make ambiguous patterns backtrack.
 */
export function checkCustomRule(r: CustomRule): string[] {
  if (typeof r?.pattern !== 'string' || r.pattern.length < 1 || r.pattern.length > 200) return ['pattern must have 1 to 200 characters'];
  if (typeof r.message !== 'string' || r.message.length < 1 || r.message.length > 200) return ['message must have 1 to 200 characters'];
  if (r.flags !== undefined && !/^(?!.*(.).*\1)[imsu]{0,4}$/.test(r.flags)) return ['flags may only be i, m, s and u, each once'];
  let re: RegExp;
  try {
    re = compileRule(r);
  } catch {
    return ['pattern is not a valid regular expression'];
  }
  if (/\\[1-9]|\\k</.test(r.pattern)) return ['pattern must not use backreferences'];
  if (!safeRegex(re)) return ['pattern may backtrack catastrophically (nested or ambiguous repetition)'];
  for (const p of PROBES) {
    if (runRule(re, p, 250) === null) return ['pattern is too slow on long inputs (catastrophic backtracking)'];
  }
  return [];
}
