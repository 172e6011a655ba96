// Configuration import and export (DATA-5), the refusals: each case names the bug class it guards against,
// and each refused import asserts that nothing was written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { bearer, createUser, events, login, makeApp, type TestApp } from '../helpers/app.js';
import { exportDoc, importDoc, populate, RECAPTCHA_SECRET } from './fixtures.js';

const PW = 'Gantry-pebble-quartz-38';

describe('config transfer: refusals', () => {
  let t: TestApp;
  let admin: string;
  /** The document and the security event count before a refused import: both must stay. */
  let snapshot: () => Promise<{ doc: string; events: number }>;
  before(async () => {
    t = await makeApp();
    admin = (await login(t)).token;
    await populate(t, admin);
    snapshot = async () => ({
      doc: await exportDoc(t, admin),
      events: Number(
        (
          await t.s.db
            .selectFrom('security_events')
            .select((e) => e.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    });
  });
  after(() => t?.close());

  /** Imports `document` (a value, sent as JSON) and expects the status and code; nothing may change but the exports' own events. */
  async function refused(document: unknown, status: number, code: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const before = await snapshot();
    const r = await importDoc(t, admin, { document: typeof document === 'string' ? document : JSON.stringify(document), ...extra });
    assert.equal(r.statusCode, status, r.body);
    assert.equal(r.json().error.code, code, r.body);
    const after = await snapshot();
    assert.equal(after.doc, before.doc, 'nothing was written');
    // Each snapshot exports once (config.exported): that is the only event between them.
    assert.equal(after.events, before.events + 1, 'no event but the export');
    return r.json().error;
  }

  const base = async () => JSON.parse(await exportDoc(t, admin));

  it('strict document: unknown keys anywhere, a missing or unknown version, a malformed file (silent typos)', async () => {
    await refused({ ...(await base()), colections: [] }, 400, 'CONFIG_INVALID');
    const d = await base();
    d.settings.tokenPolicy.sessionValidty = 60;
    const e = await refused(d, 400, 'CONFIG_INVALID');
    assert.match(JSON.stringify(e.details), /settings.tokenPolicy: unknown field \\"sessionValidty\\"/);
    const r = await base();
    r.ipRules[0].comment = 'x';
    await refused(r, 400, 'CONFIG_INVALID');
    const s = await base();
    s.settings.noSuchArea = {};
    await refused(s, 400, 'CONFIG_INVALID');
    const noVersion = await base();
    delete noVersion.version;
    await refused(noVersion, 400, 'CONFIG_INVALID');
    await refused({ ...(await base()), version: 2 }, 400, 'CONFIG_VERSION_UNSUPPORTED');
    await refused('{"version": 1,', 400, 'CONFIG_INVALID');
    await refused('version: 1\nsettings: &a {}\nroles: *a\n', 400, 'CONFIG_INVALID', { format: 'yaml' });
    await refused({ version: 1, identityProviders: [{ name: 'okta' }] }, 400, 'CONFIG_INVALID');
  });

  it('prototype keys, NUL characters and deep nesting are refused (proto poisoning, input bounds) [ASVS V1.5.2, V15.3.6]', async () => {
    await refused('{"version": 1, "settings": {"__proto__": {"admin": true}}}', 400, 'CONFIG_INVALID');
    await refused({ version: 1, ipRules: [{ action: 'block', cidr: '192.0.2.0/24', scope: 'all', note: 'a\u0000b' }] }, 400, 'CONFIG_INVALID');
    // A lone surrogate escaped inside the document's own text passes the request's check; the document's refuses it (D466).
    await refused('{"version": 1, "settings": {"mfa": {"issuer": "Pal\\ud800isade"}}}', 400, 'CONFIG_INVALID');
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = { and: [deep] };
    await refused(
      { version: 1, roles: [{ name: 'x' }], grants: [{ role: 'x', collection: 'cases', actions: ['view'], fields: [], scope: deep }] },
      400,
      'CONFIG_INVALID',
    );
  });

  it("YAML's extras are refused with a stable message, and nothing is printed: tags, non-finite numbers, parser-deep nesting (type confusion, stderr noise)", async () => {
    const printed: unknown[] = [];
    const onWarning = (w: unknown) => printed.push(w);
    process.on('warning', onWarning);
    const warn = console.warn;
    console.warn = (...a: unknown[]) => printed.push(a);
    try {
      const cases: Array<[string, RegExp]> = [
        ['version: 1\nsettings: !!js/function "function () {}"\n', /the YAML is refused: Unresolved tag/],
        ['version: 1\nsettings: {mfa: {issuer: !!binary UGFsaXNhZGU=}}\n', /tagged value/],
        ['version: 1\nroles: !!set {x}\n', /tagged value/],
        ['version: 1\nsettings: {lockout: {maxAttempts: .inf}}\n', /not finite/],
        [`version: 1\nroles:\n${'- '.repeat(4000)}x\n`, /^the YAML is nested too deeply$/],
        [`version: 1\nroles: ${'['.repeat(4000)}\n`, /^the YAML is nested too deeply$/],
        // A second document would be dropped, and with --prune what it held deleted.
        ['version: 1\n---\nroles: [{name: cut}]\n', /the YAML does not parse: Source contains multiple documents.* at line 2, column 1/],
        ['%YAML 1.1\n---\nversion: 1\n', /only YAML 1.2/],
        ['version: 1\nversion: 1\n', /Map keys must be unique at line 2, column 1/],
      ];
      for (const [doc, message] of cases) {
        const e = await refused(doc, 400, 'CONFIG_INVALID', { format: 'yaml' });
        const problems = (e.details as { problems: string[] }).problems;
        assert.equal(problems.length, 1, JSON.stringify(problems));
        assert.match(problems[0]!, message);
        assert.doesNotMatch(problems[0]!, /call stack/);
      }
    } finally {
      process.off('warning', onWarning);
      console.warn = warn;
    }
    assert.deepEqual(printed, [], 'the parser printed nothing');
  });

  it('bad settings values: out of range, inconsistent across fields; a failure part-way leaves nothing written (partial apply)', async () => {
    const range = await base();
    range.settings.lockout.maxAttempts = 0;
    await refused(range, 400, 'CONFIG_INVALID');
    // A new collection and role first, an inconsistent token policy later: the collection is not created.
    const late = await base();
    late.collections.push({ name: 'invoices', fields: [{ name: 'total', type: 'decimal' }] });
    late.settings.tokenPolicy.tokenValidity = late.settings.tokenPolicy.sessionValidity + 60;
    const e = await refused(late, 400, 'CONFIG_INVALID');
    assert.match(JSON.stringify(e.details), /token validity must not exceed session validity/);
    assert.equal(await t.s.collections.get('invoices'), null);
    // The same through a dry run: refused alike, and nothing written either.
    await refused(late, 400, 'CONFIG_INVALID', { dryRun: true });
  });

  it('a write-only field in the file is refused: secrets never come from a document (secret in config file)', async () => {
    const d = await base();
    d.settings.botCheck.recaptchaSecretKey = 'plaintext-in-a-file';
    const e = await refused(d, 400, 'CONFIG_INVALID');
    assert.match(JSON.stringify(e.details), /write-only/);
    const v = await base();
    v.secrets[0].value = 'plaintext-in-a-file';
    await refused(v, 400, 'CONFIG_INVALID');
    assert.deepEqual(await t.s.secrets.resolve('botCheck.recaptchaSecretKey'), { state: 'set', value: RECAPTCHA_SECRET });
  });

  it('oversized documents and sections are refused before any work (resource exhaustion)', async () => {
    const many = { version: 1, ipRules: Array.from({ length: 2001 }, (_, i) => ({ action: 'block', cidr: `10.${i >> 8}.${i & 255}.0/24`, scope: 'all' })) };
    await refused(many, 413, 'CONFIG_TOO_LARGE');
    const huge = `{"version": 1, "x": "${'a'.repeat(1_100_000)}"}`;
    const r = await importDoc(t, admin, { document: huge });
    assert.equal(r.statusCode, 413);
    assert.equal(r.json().error.code, 'PAYLOAD_TOO_LARGE');
  });

  it('an import that would shut the administrator out of the admin API is refused (self-lockout)', async () => {
    const d = await base();
    d.ipRules = [{ action: 'allow', cidr: '198.51.100.0/24', scope: 'admin' }];
    const e = await refused(d, 409, 'SELF_LOCKOUT', { prune: true });
    assert.equal((e.details as { clientIp: string }).clientIp, '127.0.0.1');
  });

  it('administrators only: a holder of every permission is refused on both routes; an API key is refused (privilege escalation)', async () => {
    const role = await t.app.inject({
      method: 'POST',
      url: '/api/admin/roles',
      headers: bearer(admin),
      payload: { name: 'operator', permissions: ['security.manage', 'schema.manage', 'roles.manage', 'audit.read', 'users.manage'] },
    });
    assert.equal(role.statusCode, 201, role.body);
    const id = await createUser(t, admin, 'otto', PW);
    await t.app.inject({ method: 'PUT', url: `/api/admin/users/${id}/roles`, headers: bearer(admin), payload: { roles: ['operator'] } });
    const otto = (await login(t, 'otto', PW)).token;
    const before = await snapshot();
    const ex = await t.app.inject({ method: 'GET', url: '/api/admin/config/export', headers: bearer(otto) });
    assert.equal(ex.statusCode, 403);
    assert.equal(ex.json().error.code, 'FORBIDDEN');
    const im = await importDoc(t, otto, { document: JSON.stringify({ version: 1, ipRules: [] }), prune: true });
    assert.equal(im.statusCode, 403);
    assert.equal((await snapshot()).doc, before.doc);
    assert.equal((await t.app.inject({ method: 'GET', url: '/api/admin/config/export' })).statusCode, 401);
  });

  it('no answer, event or log line carries a secret value (secret disclosure)', async () => {
    const all = [await exportDoc(t, admin), await exportDoc(t, admin, 'yaml')];
    const plan = await importDoc(t, admin, { document: all[0]!, dryRun: true });
    assert.equal(plan.statusCode, 200, plan.body);
    all.push(plan.body, JSON.stringify(await events(t, admin, 'config.exported')), JSON.stringify(await events(t, admin, 'settings.changed')));
    for (const text of [...all, t.logs.join('\n')]) assert.equal(text.includes(RECAPTCHA_SECRET), false);
  });
});
