// Compiles the server's, the tests' and the admin UI's TypeScript modules (the tests import ui/src/lib) to JavaScript
// under .test-build/ (esbuild, one file for one file, the same layout), so that the suite's processes load plain JavaScript: through tsx's loader hooks each test file's process
// spent about 2.5 s more CPU importing the server. The tree keeps the repository's shape: every other top-level entry
// (package.json, assets, dist, docs, node_modules) and every file under src/, test/ and ui/ that is not TypeScript (test
// fixtures, Svelte components, the UI's own node_modules if any) is a symbolic link to the original, so paths relative to a module (`import.meta.dirname`) and to the
// working directory both still point where they did.
import { readdirSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
const OUT = path.join(ROOT, '.test-build');
const COMPILED = ['src', 'test', 'ui'];

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT);
for (const entry of readdirSync(ROOT)) {
  if (entry === '.test-build' || entry === '.git' || COMPILED.includes(entry)) continue;
  symlinkSync(path.join(ROOT, entry), path.join(OUT, entry));
}

const sources = [];
/** Walks a folder: TypeScript (not `.svelte.ts`: Svelte's runes need its compiler) is compiled, the rest linked. */
function walk(dir) {
  mkdirSync(path.join(OUT, path.relative(ROOT, dir)), { recursive: true });
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, e.name);
    const rel = path.relative(ROOT, file);
    if (e.isDirectory() && e.name !== 'node_modules') walk(file);
    else if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') && !e.name.endsWith('.svelte.ts')) sources.push(rel);
    else symlinkSync(file, path.join(OUT, rel));
  }
}
for (const top of COMPILED) walk(path.join(ROOT, top));

const common = {
  absWorkingDir: ROOT,
  outdir: OUT,
  outbase: '.',
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Stack traces of failing tests name the TypeScript line (node --enable-source-maps in scripts/test.sh).
  sourcemap: 'linked',
  sourcesContent: false,
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: sources.filter((f) => !f.startsWith('ui/')),
});
// The UI's modules import each other without extensions (Vite resolves them): each is bundled with what it imports of
// the UI, packages and Svelte components left out.
await build({
  ...common,
  entryPoints: sources.filter((f) => f.startsWith('ui/src/')),
  bundle: true,
  packages: 'external',
  external: ['*.svelte'],
});
console.log(`compiled ${sources.length} files into ${path.relative(ROOT, OUT)}/`);
