// DATA-3 signed download links: once, within 60 s, for that file, untampered, and only while the user may still
// read the field of the record (the token is not a bearer of rights on its own).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { png } from './samples.js';
import { bearer, login } from '../helpers/app.js';
import { codeOf, filesWorld, ok, PW, type FilesWorld } from './world.js';

let w: FilesWorld;
before(async () => {
  w = await filesWorld();
});
after(() => w?.t.close());

const get = (url: string) => w.t.app.inject({ method: 'GET', url });

async function fileOf(title: string): Promise<{ id: string; fileId: string }> {
  const id = await w.record(w.tok.ed!, title);
  const up = await w.upload(w.tok.ed!, id, 'photo', png(), `${title}.png`);
  ok(up);
  return { id, fileId: up.json().id };
}
const linkFor = async (token: string, id: string, fileId: string) => w.req('POST', `${w.filesUrl(id, 'photo')}/${fileId}/link`, token);

test('a signed link works once within 60 seconds, without credentials, with the download headers [ASVS V3.2.1]', async () => {
  const { id, fileId } = await fileOf('once');
  const l = await linkFor(w.tok.rd!, id, fileId);
  assert.equal(l.statusCode, 200, l.body);
  const { url, expiresAt } = l.json();
  assert.match(url, /^\/api\/files\/signed\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  assert.equal(new Date(expiresAt).getTime(), w.t.clock.now() + 60_000);
  w.t.clock.advance(59);
  // A HEAD (a link preview) is not served and does not spend the link.
  const head = await w.t.app.inject({ method: 'HEAD', url });
  assert.ok(head.statusCode === 401 || head.statusCode === 404, String(head.statusCode));
  const first = await get(url);
  assert.equal(first.statusCode, 200, first.body);
  assert.ok(first.rawPayload.equals(png()));
  assert.equal(first.headers['content-security-policy'], "sandbox; default-src 'none'");
  assert.match(String(first.headers['content-disposition']), /^attachment;/);
  const second = await get(url);
  assert.equal(second.statusCode, 403);
  assert.equal(codeOf(second), 'FILE_LINK_INVALID');
});

test('a link to a file whose stored bytes are gone says so (FILE_CONTENT_MISSING), not that the link is invalid (D457)', async () => {
  const { rmSync } = await import('node:fs');
  const { id, fileId } = await fileOf('bytes-gone');
  const l = await linkFor(w.tok.rd!, id, fileId);
  assert.equal(l.statusCode, 200, l.body);
  rmSync(w.stored().find((p) => p.endsWith(fileId))!);
  const r = await get(l.json().url);
  assert.equal(r.statusCode, 404, r.body);
  assert.equal(codeOf(r), 'FILE_CONTENT_MISSING');
});

test('a link is refused after expiry, with a tampered token, and names only its own file [ASVS V9.1.1, V9.2.1]', async () => {
  const { id, fileId } = await fileOf('expiry');
  const other = await fileOf('other');
  const url = (await linkFor(w.tok.ed!, id, fileId)).json().url as string;
  w.t.clock.advance(61);
  assert.equal(codeOf(await get(url)), 'FILE_LINK_INVALID');
  // Tampered: a changed claim (another file id spliced in) or a changed signature.
  const fresh = (await linkFor(w.tok.ed!, id, fileId)).json().url as string;
  const token = fresh.split('/').pop()!;
  const [body, mac] = token.split('.') as [string, string];
  const bytes = Buffer.from(body, 'base64url');
  Buffer.from(other.fileId.replaceAll('-', ''), 'hex').copy(bytes, 1);
  assert.equal(codeOf(await get(`/api/files/signed/${bytes.toString('base64url')}.${mac}`)), 'FILE_LINK_INVALID');
  const flipped = `${mac.slice(0, -2)}${mac.endsWith('AA') ? 'AB' : 'AA'}`;
  assert.equal(codeOf(await get(`/api/files/signed/${body}.${flipped}`)), 'FILE_LINK_INVALID');
  assert.equal(codeOf(await get('/api/files/signed/not-a-token')), 'FILE_LINK_INVALID');
  // The untouched link still works for its own file only.
  const res = await get(fresh);
  assert.equal(res.statusCode, 200, res.body);
  assert.ok(res.rawPayload.equals(png()));
  // A link is only given for a file of the record and field named.
  assert.equal((await linkFor(w.tok.ed!, id, other.fileId)).statusCode, 404);
});

test('a link is refused once its user lost the grant, and never given to one without it [ASVS V8.3.2]', async () => {
  const { id, fileId } = await fileOf('revoked');
  assert.equal(codeOf(await linkFor(w.tok.vw!, id, fileId)), 'FIELD_UNKNOWN');
  const url = (await linkFor(w.tok.rd!, id, fileId)).json().url as string;
  // The reader loses the reader role before using the link.
  ok(await w.req('PUT', `/api/admin/users/${w.ids.rd}/roles`, w.admin, { roles: ['viewer'] }), 204);
  try {
    const r = await get(url);
    assert.equal(r.statusCode, 403, r.body);
    assert.equal(codeOf(r), 'FILE_LINK_INVALID');
  } finally {
    ok(await w.req('PUT', `/api/admin/users/${w.ids.rd}/roles`, w.admin, { roles: ['reader'] }), 204);
  }
  // A disabled user's links stop too.
  const url2 = (await linkFor(w.tok.rd!, id, fileId)).json().url as string;
  ok(await w.req('PATCH', `/api/admin/users/${w.ids.rd}`, w.admin, { status: 'disabled' }), 200);
  assert.equal(codeOf(await get(url2)), 'FILE_LINK_INVALID');
});

test('a link lives no longer than the session it was asked with', async () => {
  const { id, fileId } = await fileOf('session-bound');
  const session = (await login(w.t, 'ed', PW.ed)).token;
  const url = (await linkFor(session, id, fileId)).json().url as string;
  const kept = (await linkFor(session, id, fileId)).json().url as string;
  ok(await w.t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: bearer(session) }), 204);
  assert.equal(codeOf(await get(url)), 'FILE_LINK_INVALID');
  // The same user's links asked under another, live session still work.
  const other = (await linkFor(w.tok.ed!, id, fileId)).json().url as string;
  assert.equal((await get(other)).statusCode, 200);
  assert.equal(codeOf(await get(kept)), 'FILE_LINK_INVALID');
});

test("a link asked with an API key needs that key still valid and the key's addresses", async () => {
  const { id, fileId } = await fileOf('key-bound');
  ok(await w.req('PATCH', '/api/admin/settings/api-keys', w.admin, { selfService: true }), 200);
  const mkKey = async (ipAllow?: string[]) => {
    const r = await w.req('POST', '/api/auth/api-keys', w.tok.ed!, { name: 'dl', role: 'editor', ...(ipAllow ? { ipAllow } : {}) });
    ok(r);
    return r.json() as { key: { id: string }; secret: string };
  };
  const keyLink = (secret: string, remoteAddress = '127.0.0.1') =>
    w.t.app.inject({ method: 'POST', url: `${w.filesUrl(id, 'photo')}/${fileId}/link`, headers: { 'x-api-key': secret }, remoteAddress });
  // Revoked after the link was made: refused.
  const k = await mkKey();
  const url = (await keyLink(k.secret)).json().url as string;
  const url2 = (await keyLink(k.secret)).json().url as string;
  assert.equal((await get(url2)).statusCode, 200, 'a live key’s link works');
  ok(await w.req('DELETE', `/api/auth/api-keys/${k.key.id}`, w.tok.ed!), 204);
  assert.equal(codeOf(await get(url)), 'FILE_LINK_INVALID');
  // A key kept to one address: its link is refused from elsewhere and served from there.
  const near = await mkKey(['10.1.2.3']);
  const l1 = await keyLink(near.secret, '10.1.2.3');
  assert.equal(l1.statusCode, 200, l1.body);
  const far = await w.t.app.inject({ method: 'GET', url: l1.json().url, remoteAddress: '198.51.100.7' });
  assert.equal(codeOf(far), 'FILE_LINK_INVALID');
  const l2 = (await keyLink(near.secret, '10.1.2.3')).json().url as string;
  const there = await w.t.app.inject({ method: 'GET', url: l2, remoteAddress: '10.1.2.3' });
  assert.equal(there.statusCode, 200, there.body);
  assert.ok(there.rawPayload.equals(png()));
});
