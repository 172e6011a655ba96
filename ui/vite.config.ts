import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The admin UI: a static single-page app that Palisade serves itself under `/` (src/http/ui.ts).
// Built once, at install (`npm run build`), into dist/ui. No inline script or style anywhere, so that the
// pages run under `script-src 'self'; style-src 'self'; require-trusted-types-for 'script'`.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  // fragments: 'tree' builds the DOM with createElement instead of innerHTML on a <template>, so no
  // Trusted Types policy is needed for Svelte's own templates.
  plugins: [svelte({ compilerOptions: { fragments: 'tree' } })],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // The modulepreload polyfill would be an inline script; every browser we support has modulepreload.
    modulePreload: { polyfill: false },
    // Never inline assets as data: URIs; every asset is a file under /assets.
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    sourcemap: false,
    target: 'es2022',
    // A slow machine makes the Svelte compiler look slow; that is not a problem of the build.
    rolldownOptions: { checks: { bundlerTimings: false } },
  },
  server: { proxy: { '/api': 'http://127.0.0.1:3000', '/healthz': 'http://127.0.0.1:3000' } },
});
