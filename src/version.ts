import { readFileSync } from 'node:fs';

/** The release, from package.json (beside src/ and dist/ alike): the system log's start line, a backup's manifest. */
export function version(): string {
  try {
    return String((JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown }).version);
  } catch {
    return 'unknown';
  }
}
