// A node --test reporter that writes one JSON line per test whose name carries ASVS tags (`[ASVS V7.5.1, V6.4.1]`):
// {file, name, ids, status: pass|fail|skip}. scripts/asvs.mjs reads these lines to build the matrix (docs/asvs.md);
// `--test-reporter=./scripts/asvs-reporter.mjs --test-reporter-destination=FILE`.
const TAG = /\[ASVS ([^\]]*)\]/g;

/** The ids of a test name's tags, as written (scripts/asvs.mjs checks and normalises them). */
export function tagIds(name) {
  return [...name.matchAll(TAG)].flatMap((m) => m[1].split(',').map((id) => id.trim()));
}

/** The repository path of a test file: the suite runs the compiled copy under .test-build/ (scripts/build-tests.mjs). */
export function sourcePath(file) {
  const rel = file.startsWith(`${process.cwd()}/`) ? file.slice(process.cwd().length + 1) : file;
  return rel.replace(/^\.test-build\//, '').replace(/\.test\.js$/, '.test.ts');
}

export default async function* asvsTags(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { name, file, skip, todo } = event.data;
    const ids = tagIds(name ?? '');
    if (ids.length === 0) continue;
    const skipped = (skip !== undefined && skip !== false) || (todo !== undefined && todo !== false);
    const status = skipped ? 'skip' : event.type === 'test:pass' ? 'pass' : 'fail';
    yield `${JSON.stringify({ file: file ? sourcePath(file) : null, name, ids, status })}\n`;
  }
}
