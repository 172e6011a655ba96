import { readFileSync } from 'node:fs';
import { parseStructured, StructuredTextError } from '../util/structured.js';

/** A CLI settings file (JSON or YAML, read as YAML: JSON is YAML) as plain data, or the command's usage error. */
export function settingsFile(file: string, Usage: new (message: string) => Error): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Usage(`${file}: cannot be read`);
  }
  try {
    return parseStructured(text, 'yaml');
  } catch (e) {
    if (e instanceof StructuredTextError) throw new Usage(`${file}: ${e.message}`);
    throw e;
  }
}
