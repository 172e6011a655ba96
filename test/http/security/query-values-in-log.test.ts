// Bug class: query values in the request log (AUDIT-2). The request log names the query
// parameters of a request, never their values: filters and searches are business data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeApp, login, bearer } from '../../helpers/app.js';

test('query values in the request log: parameter names are logged, values are not [ASVS V16.2.5]', async () => {
  const t = await makeApp({ env: { LOG_LEVEL: 'trace' } });
  try {
    const admin = (await login(t)).token;
    const secretish = ['Confidential-Acme-Deal', 'salary-9876543', 'x@victim.example'];
    const filter = encodeURIComponent(JSON.stringify({ title: { $eq: secretish[0] } }));
    await t.app.inject({ method: 'GET', url: `/api/collections/nothing/records?filter=${filter}&search=${secretish[1]}&sort=title`, headers: bearer(admin) });
    await t.app.inject({ method: 'GET', url: `/api/admin/users?search=${encodeURIComponent(secretish[2]!)}&limit=5`, headers: bearer(admin) });
    await t.app.inject({ method: 'GET', url: `/api/admin/security-events?type=${secretish[1]}` });
    const log = t.logs.join('');
    for (const v of secretish) {
      assert.equal(log.includes(v), false, `a query value reached the log: ${v}`);
      assert.equal(log.includes(encodeURIComponent(v)), false, `a query value reached the log: ${v}`);
    }
    // The request is still identifiable: its route and the names of its parameters are there.
    assert.match(log, /"route":"\/api\/collections\/:collection\/records","status":\d+,"ms":[\d.]+,"query":\["filter","search","sort"\]/);
    assert.match(log, /"route":"\/api\/admin\/users","status":\d+,"ms":[\d.]+,"query":\["search","limit"\]/);
  } finally {
    await t.close();
  }
});
