// A small world for the API key and basic authentication tests: a `notes` collection, a `writer` role
// that may view and create notes, a `keymaker` role with apikeys.manage, and ann who holds both.
import assert from 'node:assert/strict';
import { bearer, createUser, login, type TestApp } from '../../helpers/app.js';

export const ANN_PW = 'Quarterly-report-4411';

export async function notesWorld(t: TestApp, admin: string): Promise<{ ann: string; annId: string }> {
  const req = (method: 'POST' | 'PUT', url: string, payload: unknown, code = 201) =>
    t.app.inject({ method, url, headers: bearer(admin), payload: payload as object }).then((r) => assert.equal(r.statusCode, code, r.body));
  await req('POST', '/api/admin/collections', { name: 'notes', fields: [{ name: 'title', type: 'string', required: true }] });
  await req('POST', '/api/admin/roles', { name: 'writer' });
  await req('POST', '/api/admin/roles', { name: 'keymaker', permissions: ['apikeys.manage'] });
  await req('POST', '/api/admin/grants', { role: 'writer', collection: 'notes', actions: ['view', 'create'], fields: ['title'] });
  const annId = await createUser(t, admin, 'ann', ANN_PW);
  await req('PUT', `/api/admin/users/${annId}/roles`, { roles: ['writer', 'keymaker'] }, 204);
  await req('POST', '/api/collections/notes/records', { title: 'first' });
  return { ann: (await login(t, 'ann', ANN_PW)).token, annId };
}

/** Creates a key through the API as `token`; returns the answer. */
export function createKey(t: TestApp, token: string, body: Record<string, unknown>) {
  return t.app.inject({ method: 'POST', url: '/api/auth/api-keys', headers: bearer(token), payload: { name: 'ci', role: 'writer', ...body } });
}

export const list = (t: TestApp, headers: Record<string, string>) => t.app.inject({ method: 'GET', url: '/api/collections/notes/records', headers });
export const code = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;
