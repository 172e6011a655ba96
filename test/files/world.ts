// The files world: a `docs` collection with file fields, an editor role (own records, every field), a reader
// role (every record, title and photo, no writes) and a viewer role (title only).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { bearer, createUser, login, makeApp, type MakeOptions, type TestApp } from '../helpers/app.js';

export const PW = { ed: 'Editor-pencil-5521', ed2: 'Second-editor-7734', rd: 'Reader-glasses-3390', vw: 'Viewer-window-8812' };

export const ok = (r: { statusCode: number; body: string }, code = 201) => assert.equal(r.statusCode, code, r.body);
export const codeOf = (r: { json(): { error?: { code: string } } }) => r.json().error?.code;

export async function filesWorld(o: MakeOptions = {}) {
  const t = await makeApp(o);
  const admin = (await login(t)).token;
  const req = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, token: string, payload?: unknown) =>
    t.app.inject({ method, url, headers: bearer(token), ...(payload !== undefined ? { payload: payload as object } : {}) });
  ok(
    await req('POST', '/api/admin/collections', admin, {
      name: 'docs',
      fields: [
        { name: 'title', type: 'string' },
        { name: 'photo', type: 'file', accept: ['image/png', 'image/jpeg', 'image/gif'], maxPixels: 1_000_000, versions: 2 },
        { name: 'attachments', type: 'file', multiple: true, maxFiles: 2, maxBytes: 2000, keepMetadata: true },
        { name: 'notes', type: 'file', accept: ['text/plain'] },
        { name: 'scan', type: 'file', accept: ['application/pdf'] },
        {
          name: 'any',
          type: 'file',
          multiple: true,
          maxFiles: 20,
          keepMetadata: true,
          accept: ['image/png', 'image/jpeg', 'image/gif', 'image/bmp', 'application/pdf', 'application/gzip', 'text/plain'],
        },
      ],
    }),
  );
  const ids: Record<string, string> = {};
  for (const [u, p] of Object.entries(PW)) ids[u] = await createUser(t, admin, u, p);
  for (const role of ['editor', 'reader', 'viewer']) ok(await req('POST', '/api/admin/roles', admin, { name: role }));
  const grant = async (g: Record<string, unknown>) => ok(await req('POST', '/api/admin/grants', admin, { collection: 'docs', ...g }));
  const all = ['title', 'photo', 'attachments', 'notes', 'scan', 'any'];
  await grant({ role: 'editor', actions: ['view', 'create', 'update', 'delete'], fields: all, scope: { createdBy: '$user.id' } });
  await grant({ role: 'reader', actions: ['view'], fields: ['title', 'photo'] });
  await grant({ role: 'viewer', actions: ['view'], fields: ['title'] });
  ok(await req('PUT', `/api/admin/users/${ids.ed}/roles`, admin, { roles: ['editor'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.ed2}/roles`, admin, { roles: ['editor'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.rd}/roles`, admin, { roles: ['reader'] }), 204);
  ok(await req('PUT', `/api/admin/users/${ids.vw}/roles`, admin, { roles: ['viewer'] }), 204);
  const tok: Record<string, string> = {};
  for (const [u, p] of Object.entries(PW)) tok[u] = (await login(t, u, p)).token;
  const record = async (token: string, title: string): Promise<string> => {
    const r = await req('POST', '/api/collections/docs/records', token, { title });
    ok(r);
    return r.json().id as string;
  };
  const filesUrl = (id: string, field: string) => `/api/collections/docs/records/${id}/files/${field}`;
  /**
   * Uploads raw bytes, with a name and (by default) a lying content type; `keepMetadata`: the uploader's consent to keep
   * them (`attachments` and `any` allow it), which a type whose metadata cannot be removed needs (docs/files.md#metadata).
   */
  const upload = (
    token: string,
    id: string,
    field: string,
    bytes: Buffer,
    name = 'upload.bin',
    contentType = 'application/octet-stream',
    keepMetadata = false,
  ) =>
    t.app.inject({
      method: 'POST',
      url: `${filesUrl(id, field)}?name=${encodeURIComponent(name)}${keepMetadata ? '&keepMetadata=true' : ''}`,
      headers: { ...bearer(token), 'content-type': contentType },
      payload: bytes,
    });
  const download = (token: string, id: string, field: string, fileId: string) =>
    t.app.inject({ method: 'GET', url: `${filesUrl(id, field)}/${fileId}`, headers: bearer(token) });
  const rows = () => t.s.db.selectFrom('files').selectAll().execute();
  /** Every stored file's path under FILES_DIR (staging included). */
  const stored = (): string[] => {
    const dir = t.s.config.files.dir;
    const out: string[] = [];
    const walk = (d: string) => {
      let entries: import('node:fs').Dirent[];
      try {
        entries = readdirSync(d, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) e.isDirectory() ? walk(path.join(d, e.name)) : out.push(path.join(d, e.name));
    };
    walk(dir);
    return out;
  };
  return { t, admin, ids, tok, req, record, filesUrl, upload, download, rows, stored };
}

export type FilesWorld = Awaited<ReturnType<typeof filesWorld>>;

/** Waits for background work (scans, removals) started so far. */
export const settle = (t: TestApp) => t.s.tasks.drain();
