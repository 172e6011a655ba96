// A node --test reporter that writes, per test file, the time its top-level tests took, slowest first: test.sh prints
// the head of it so that CI time stays visible (`--test-reporter=./scripts/test-times.mjs`).
export default async function* testTimes(source) {
  const byFile = new Map();
  for await (const event of source) {
    if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0 && event.data.file) {
      const ms = event.data.details?.duration_ms ?? 0;
      byFile.set(event.data.file, (byFile.get(event.data.file) ?? 0) + ms);
    }
  }
  const rows = [...byFile].sort((a, b) => b[1] - a[1]);
  const total = rows.reduce((s, [, ms]) => s + ms, 0);
  yield `${rows.length} files, ${Math.round(total / 1000)} s of tests in all\n`;
  for (const [file, ms] of rows)
    yield `${String(Math.round(ms / 1000)).padStart(5)} s  ${file.replace(`${process.cwd()}/`, '').replace(/^\.test-build\//, '')}\n`;
}
