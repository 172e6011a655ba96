// Compiles the server's and the tests' TypeScript to JavaScript under .test-build/ (esbuild, one file for one file, the
// same layout), so that the suite's processes load plain JavaScript: through tsx's loader hooks each test file's process
// spent about 2.5 s more CPU importing the server. The tree keeps the repository's shape: every other top-level entry
// (package.json, assets, dist, docs, ui, node_modules) and every file under src/ and test/ that is not TypeScript (the
// test fixtures) is a symbolic link to the original, so paths relative to a module (`import.meta.dirname`) and to the
// working directory both still point where they did.
import { readdirSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, '.test-build');
const COMPILED = ['src', 'test'];

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT);
for (const entry of readdirSync(ROOT)) {
  if (entry === '.test-build' || entry === '.git' || COMPILED.includes(entry)) continue;
  symlinkSync(path.join(ROOT, entry), path.join(OUT, entry));
}

const sources = [];
for (const top of COMPILED) {
  for (const e of readdirSync(path.join(ROOT, top), { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const file = path.join(e.parentPath ?? e.path, e.name);
    const rel = path.relative(ROOT, file);
    if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(rel);
    else {
      mkdirSync(path.dirname(path.join(OUT, rel)), { recursive: true });
      symlinkSync(file, path.join(OUT, rel));
    }
  }
}

await build({
  absWorkingDir: ROOT,
  entryPoints: sources,
  outdir: OUT,
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Stack traces of failing tests name the TypeScript line (node --enable-source-maps in scripts/test.sh).
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
});
console.log(`compiled ${sources.length} files into ${path.relative(ROOT, OUT)}/`);
