#!/usr/bin/env node
// The "bare" route of bench/records.mjs: the same list query as the records API, with no security.
//
// A separate Fastify process that opens the server's SQLite file read-only and serves
//   GET /bare?page=P  ->  { items, total, page, perPage: 50 }
// from `select <the columns the secured list selects> from col_orders order by id limit 50 offset …`
// and `select count(*) from col_orders`: no authentication, no rate limit, no row scope, no field
// mask. The two statements are prepared once. Items have the records API's shape (camelCase system
// fields, ISO dates), so both routes serialise comparable bodies.
//
// Environment: BARE_DB (path of palisade.db, required), PORT (required), HOST (only 127.0.0.1).

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Fastify = require('fastify');
const Database = require('@rocicorp/zero-sqlite3');

const file = process.env.BARE_DB;
const port = Number(process.env.PORT);
const host = process.env.HOST ?? '127.0.0.1';
if (!file || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error('BARE_DB and PORT are required');
if (host !== '127.0.0.1') throw new Error('the bare server listens on 127.0.0.1 only');

const PER_PAGE = 50;
const db = new Database(file, { readonly: true, fileMustExist: true });
const list = db.prepare(
  'select id, created_at, updated_at, created_by, updated_by, region, status, customer, amount, margin ' + 'from col_orders order by id limit ? offset ?',
);
const count = db.prepare('select count(*) as n from col_orders');

const app = Fastify({ logger: false });
app.get(
  '/bare',
  {
    schema: {
      querystring: {
        type: 'object',
        properties: { page: { type: 'integer', minimum: 1, maximum: 100000, default: 1 } },
        additionalProperties: false,
      },
    },
  },
  async (req) => {
    const page = req.query.page;
    const rows = list.all(PER_PAGE, (page - 1) * PER_PAGE);
    const total = count.get().n;
    const items = rows.map((r) => ({
      id: r.id,
      createdAt: new Date(r.created_at).toISOString(),
      updatedAt: new Date(r.updated_at).toISOString(),
      createdBy: r.created_by,
      updatedBy: r.updated_by,
      region: r.region,
      status: r.status,
      customer: r.customer,
      amount: r.amount,
      margin: r.margin,
    }));
    return { items, total, page, perPage: PER_PAGE };
  },
);

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.once(sig, () => {
    app.close().finally(() => {
      db.close();
      process.exit(0);
    });
  });
}

await app.listen({ host, port });
