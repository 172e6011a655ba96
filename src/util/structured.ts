/**
 * JSON or YAML text from outside (an imported configuration or schema file, a CLI settings file) into plain data, or a
 * one-line reason that is safe to show. Plain data only: strings, finite numbers, booleans, null, lists and objects,
 * as JSON has them. YAML's extras are refused rather than turned into something a checker does not expect: aliases
 * (an expansion bomb), explicit tags (`!!binary` gives a Buffer, `!!set` a Set, `!!timestamp` a Date, an unknown
 * tag such as `!!js/function` a string and a warning the parser would print to stderr), duplicate keys, `.inf`.
 * Nesting is bounded before a checker walks it, and the parser's own recursion limit is reported as such, not as
 * the engine's message.
 */
import YAML from 'yaml';

export type StructuredFormat = 'json' | 'yaml';

/** Deeper than any document Palisade reads (its checkers bound theirs lower, with their own messages). */
export const MAX_STRUCTURED_DEPTH = 64;

export class StructuredTextError extends Error {}

const firstLine = (message: string) => message.split('\n')[0]!.slice(0, 200);

export function parseStructured(text: string, format: StructuredFormat): unknown {
  let value: unknown;
  if (format === 'json') {
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new StructuredTextError(`the JSON does not parse: ${e instanceof Error ? firstLine(e.message) : 'error'}`);
    }
  } else {
    // `error`, not `silent`: a silent parser drops errors such as a second document (`---`), which would cut the file
    // short; warnings are collected (and refused below) without being printed at this level.
    const doc = YAML.parseDocument(text, { uniqueKeys: true, logLevel: 'error', version: '1.2', schema: 'core' });
    const error = doc.errors[0];
    if (error) {
      throw new StructuredTextError(
        error.code === 'RESOURCE_EXHAUSTION' ? 'the YAML is nested too deeply' : `the YAML does not parse: ${firstLine(error.message)}`,
      );
    }
    // A `%YAML 1.1` file means other values (`010` is 8, `yes` is true) than the 1.2 core schema reads: refused.
    if (doc.directives?.yaml.explicit && doc.directives.yaml.version !== '1.2')
      throw new StructuredTextError('the YAML is refused: only YAML 1.2 is read (no %YAML 1.1)');
    const warning = doc.warnings[0];
    if (warning) throw new StructuredTextError(`the YAML is refused: ${firstLine(warning.message)}`);
    try {
      value = doc.toJS({ maxAliasCount: 0 });
    } catch {
      throw new StructuredTextError('the YAML is refused: aliases (*name) are not allowed');
    }
  }
  const problem = plainProblem(value);
  if (problem) throw new StructuredTextError(`the ${format === 'yaml' ? 'YAML' : 'JSON'} is refused: ${problem}`);
  return value;
}

/** Why a parsed value is not plain data within the depth bound (walked iteratively), or null. */
function plainProblem(root: unknown): string | null {
  const stack: Array<[unknown, number]> = [[root, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v === 'string' || typeof v === 'boolean') continue;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) return 'a number that is not finite';
      continue;
    }
    if (typeof v !== 'object') return 'a value that is not plain data';
    if (depth >= MAX_STRUCTURED_DEPTH) return `nested more than ${MAX_STRUCTURED_DEPTH} levels`;
    if (Array.isArray(v)) {
      for (const x of v) stack.push([x, depth + 1]);
      continue;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return 'a tagged value (binary, set, map, timestamp) where plain data is expected';
    for (const x of Object.values(v)) stack.push([x, depth + 1]);
  }
  return null;
}
