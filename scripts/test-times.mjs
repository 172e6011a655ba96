// A node --test reporter that writes, per test file, its wall time and the time its top-level tests took, slowest
// first: test.sh prints the head of it so that CI time stays visible (`--test-reporter=./scripts/test-times.mjs`).
// The wall time of a file runs from the previous file's last event to its own last one (the suite runs one file at a
// time): it includes loading the file, its `before` hooks (a browser, an IdP started) and its exit, which the tests'
// own times do not.
export default async function* testTimes(source) {
  const byFile = new Map();
  let previous = Date.now();
  let current = null;
  for await (const event of source) {
    const file = event.data?.file;
    if (file && (event.type === 'test:pass' || event.type === 'test:fail' || event.type === 'test:diagnostic' || event.type === 'test:start')) {
      const now = Date.now();
      let row = byFile.get(file);
      if (!row) {
        if (current) previous = current.last;
        row = { tests: 0, start: previous, last: now };
        byFile.set(file, row);
        current = row;
      }
      row.last = now;
      if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.nesting === 0) row.tests += event.data.details?.duration_ms ?? 0;
    }
  }
  const rows = [...byFile].map(([file, r]) => [file, r.last - r.start, r.tests]).sort((a, b) => b[1] - a[1]);
  const wall = rows.reduce((s, [, w]) => s + w, 0);
  const tests = rows.reduce((s, [, , t]) => s + t, 0);
  yield `${rows.length} files, ${Math.round(wall / 1000)} s of wall time, ${Math.round(tests / 1000)} s of it in tests\n`;
  for (const [file, w, t] of rows)
    yield `${String(Math.round(w / 1000)).padStart(5)} s  (${String(Math.round(t / 1000)).padStart(4)} s in tests)  ${file.replace(`${process.cwd()}/`, '').replace(/^\.test-build\//, '')}\n`;
}
