/**
 * The import rules of docs/architecture.md, checked by `npm test` (scripts/test.sh): parts import
 * only downward, the error registry is a leaf, no part below HTTP imports it, routes do not reach
 * the database, and there is no cycle.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment: 'A cycle means two parts each need the other: one of them has the wrong job.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'errors-is-a-leaf',
      severity: 'error',
      comment: 'src/errors.ts imports nothing: every part throws its errors, HTTP turns them into answers.',
      from: { path: '^src/errors\\.ts$' },
      to: { path: '^src/' },
    },
    {
      name: 'util-is-a-leaf',
      severity: 'error',
      comment: 'src/util/ holds generic tools that know nothing of Palisade.',
      from: { path: '^src/util/' },
      to: { path: '^src/', pathNot: '^src/util/' },
    },
    {
      name: 'client-stands-alone',
      severity: 'error',
      comment: 'src/client/ is shipped to other clients (and bundled into the admin UI): it imports nothing of the server.',
      from: { path: '^src/client/' },
      to: { path: '^src/', pathNot: '^src/client/' },
    },
    {
      name: 'db-is-below-every-feature',
      severity: 'error',
      comment: 'Storage knows no feature: shared state, auth, access, records and the rest sit above it.',
      from: { path: '^src/db/' },
      to: { path: '^src/(shared-state|auth|access|records|collections|edge|http|mail|sms|audit|ops|config)/' },
    },
    {
      name: 'no-http-below-http',
      severity: 'error',
      comment: 'Config, storage, shared state, auth, access, records, edge, mail and audit never import HTTP.',
      from: { path: '^src/(config|db|shared-state|auth|access|records|collections|edge|mail|sms|audit|ops)/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'routes-do-not-reach-the-database',
      severity: 'error',
      comment: 'Routes translate HTTP: they call services, never the database layer.',
      from: { path: '^src/http/routes/' },
      to: { path: '^src/db/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'config-imports-no-feature',
      severity: 'error',
      comment: 'Configuration sits below every feature; features declare their settings areas with it.',
      from: { path: '^src/config/' },
      to: { path: '^src/(auth|access|records|edge|http|mail|sms|shared-state)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
