// Bug class: a PostgreSQL URL's own server settings (`?options=-c ...`) replaced DATABASE_SCHEMA's search_path, so the
// tables went to `public`, shared with every other installation on that database. Both must apply.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { DIALECT, makeApp } from '../helpers/app.js';

const base = 'postgres://postgres@127.0.0.1:5432/test';

test('a DATABASE_URL with its own options keeps DATABASE_SCHEMA: the options apply and the tables are in the schema', {
  skip: DIALECT !== 'postgres',
}, async () => {
  const t = await makeApp({ env: { DATABASE_URL: `${base}?options=-c%20work_mem%3D4321kB%20-c%20search_path%3Dpublic` } });
  try {
    const db = t.s.db;
    const schema = t.shared.pgSchema!;
    const { rows } = await sql<{ s: string; t: string }>`select current_schema() as s, current_setting('work_mem') as t`.execute(db);
    assert.deepEqual(rows[0], { s: schema, t: '4321kB' });
    // The migrations ran in the schema (its own migration table lists them), not in public.
    const ran = await sql<{ n: number }>`select count(*)::int as n from ${sql.id(schema, 'kysely_migration')}`.execute(db);
    assert.ok(ran.rows[0]!.n > 0);
  } finally {
    await t.close();
  }
});
