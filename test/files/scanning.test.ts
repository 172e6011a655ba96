// DATA-3 quarantine with a real clamd (test/helpers/clamav.ts): an infected upload never becomes downloadable;
// a clean one does after its scan; with clamd down files stay quarantined and the sweep releases them later.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startClamd, type TestClamd } from '../helpers/clamav.js';
import { cliEnv, events } from '../helpers/app.js';
import { refusingEvents } from '../helpers/audit.js';
import { cli } from '../helpers/cli.js';
import { png, pngCarrying, text } from './samples.js';
import { codeOf, filesWorld, ok, settle, type FilesWorld } from './world.js';

let w: FilesWorld;
let clamd: TestClamd;
// The server is given a fixed socket path, a link to the running clamd's socket: removing the link is clamd
// being down, pointing it at a new clamd is clamd being back.
const linkDir = mkdtempSync(path.join(tmpdir(), 'palisade-scanlink-'));
const link = path.join(linkDir, 'clamd.sock');
const pointAt = (c: TestClamd | null) => {
  rmSync(link, { force: true });
  if (c) symlinkSync((c.address as { socket: string }).socket, link);
};

before(async () => {
  clamd = await startClamd();
  pointAt(clamd);
  w = await filesWorld({ env: { FILES_SCANNER: `clamd://${link}`, FILES_SCAN_TIMEOUT: '5', FILES_MAX_BYTES: String(1024 * 1024) } });
});
after(async () => {
  await w?.t.close();
  await clamd?.stop();
  rmSync(linkDir, { recursive: true, force: true });
});

const stateOf = async (id: string, field: string, token = w.tok.ed!) =>
  ((await w.req('GET', `${w.filesUrl(id, field)}?versions=true`, token)).json().files as Array<{ id: string; state: string; signature?: string }>)[0]!;

test('a clean upload is quarantined until scanned, then downloadable [ASVS V5.4.3]', async () => {
  const id = await w.record(w.tok.ed!, 'clean');
  const up = await w.upload(w.tok.ed!, id, 'photo', png(), 'ok.png');
  ok(up);
  assert.equal(up.json().state, 'quarantined');
  // Before the scan has run, the bytes do not leave.
  const early = await w.download(w.tok.ed!, id, 'photo', up.json().id);
  if (early.statusCode !== 200) assert.equal(codeOf(early), 'FILE_QUARANTINED');
  await settle(w.t);
  assert.equal((await stateOf(id, 'photo')).state, 'clean');
  const down = await w.download(w.tok.ed!, id, 'photo', up.json().id);
  assert.equal(down.statusCode, 200, down.body);
  assert.ok(down.rawPayload.equals(png()));
});

test('an infected upload never becomes downloadable: state infected, security event, refused forever [ASVS V5.4.3]', async () => {
  const id = await w.record(w.tok.ed!, 'infected');
  // The test signature inside a real PNG (in a chunk that metadata removal keeps), and on its own as text.
  const inPng = await w.upload(w.tok.ed!, id, 'photo', pngCarrying(2, 2, clamd.infected), 'holiday.png');
  ok(inPng);
  const asText = await w.upload(w.tok.ed!, id, 'notes', Buffer.concat([text(), clamd.infected]), 'readme.txt');
  ok(asText);
  await settle(w.t);
  for (const [field, up] of [
    ['photo', inPng],
    ['notes', asText],
  ] as const) {
    const meta = await stateOf(id, field);
    assert.equal(meta.state, 'infected');
    assert.equal(meta.signature, clamd.signature);
    const down = await w.download(w.tok.ed!, id, field, up.json().id);
    assert.equal(down.statusCode, 404, down.body);
    assert.equal(codeOf(down), 'FILE_INFECTED');
    assert.equal(codeOf(await w.req('POST', `${w.filesUrl(id, field)}/${up.json().id}/link`, w.tok.ed!)), 'FILE_INFECTED');
  }
  // The record shows the uploader what happened.
  const rec = (await w.req('GET', `/api/collections/docs/records/${id}`, w.tok.ed!)).json();
  assert.equal(rec.photo[0].state, 'infected');
  const evs = (await events(w.t, w.admin, 'file.infected')).filter((e) => e.details?.recordId === id);
  assert.equal(evs.length, 2);
  assert.equal(evs[0]!.details.signature, clamd.signature);
  // Another sweep changes nothing: an infected file is never scanned again, never released.
  await w.t.s.files.sweep();
  assert.equal((await stateOf(id, 'photo')).state, 'infected');
  assert.equal(codeOf(await w.download(w.tok.ed!, id, 'photo', inPng.json().id)), 'FILE_INFECTED');
  // Replaced by a clean file, it is not restorable either.
  ok(await w.upload(w.tok.ed!, id, 'photo', png(), 'clean.png'));
  await settle(w.t);
  assert.equal(codeOf(await w.req('POST', `${w.filesUrl(id, 'photo')}/${inPng.json().id}/restore`, w.tok.ed!)), 'FILE_INFECTED');
  assert.equal(codeOf(await w.download(w.tok.ed!, id, 'photo', inPng.json().id)), 'FILE_INFECTED');
});

test('with clamd down uploads stay quarantined; the sweep releases the clean ones and catches the infected once it is back [ASVS V16.5.2, V16.5.3, V5.4.3]', async () => {
  pointAt(null);
  const id = await w.record(w.tok.ed!, 'down');
  const clean = await w.upload(w.tok.ed!, id, 'photo', png(), 'a.png');
  ok(clean);
  const bad = await w.upload(w.tok.ed!, id, 'notes', clamd.infected, 'b.txt');
  ok(bad);
  await settle(w.t);
  assert.equal((await stateOf(id, 'photo')).state, 'quarantined');
  assert.equal(codeOf(await w.download(w.tok.ed!, id, 'photo', clean.json().id)), 'FILE_QUARANTINED');
  assert.deepEqual(await w.t.s.files.sweep(), { scanned: 0, pending: 2 });
  assert.equal((await stateOf(id, 'photo')).state, 'quarantined');
  assert.equal((await stateOf(id, 'notes')).state, 'quarantined');
  // clamd is back (a new one): the next sweep scans both.
  const again = await startClamd();
  try {
    pointAt(again);
    const r = await w.t.s.files.sweep();
    assert.equal(r.scanned, 2);
    assert.equal((await stateOf(id, 'photo')).state, 'clean');
    assert.equal((await stateOf(id, 'notes')).state, 'infected');
    assert.equal((await w.download(w.tok.ed!, id, 'photo', clean.json().id)).statusCode, 200);
    assert.equal(codeOf(await w.download(w.tok.ed!, id, 'notes', bad.json().id)), 'FILE_INFECTED');
  } finally {
    pointAt(clamd);
    await again.stop();
  }
});

test('files uploaded unscanned before a scanner was configured are scanned by the sweep once it is', async () => {
  const id = await w.record(w.tok.ed!, 'backlog');
  const up = await w.upload(w.tok.ed!, id, 'notes', clamd.infected, 'old.txt');
  ok(up);
  await settle(w.t);
  // As if it had been uploaded before FILES_SCANNER was set.
  await w.t.s.db.updateTable('files').set({ state: 'unscanned', signature: null, scanned_at: null }).where('id', '=', up.json().id).execute();
  assert.equal((await w.download(w.tok.ed!, id, 'notes', up.json().id)).statusCode, 200);
  await w.t.s.files.sweep();
  assert.equal((await stateOf(id, 'notes')).state, 'infected');
  assert.equal(codeOf(await w.download(w.tok.ed!, id, 'notes', up.json().id)), 'FILE_INFECTED');
});

test('a file whose stored bytes are gone is not scanned: the sweep goes on, the server stays up, and the file waits its back-off (D457)', async () => {
  const id = await w.record(w.tok.ed!, 'bytes-gone');
  const gone = (await w.upload(w.tok.ed!, id, 'notes', text(), 'gone.txt')).json().id as string;
  const kept = (await w.upload(w.tok.ed!, id, 'photo', png(), 'kept.png')).json().id as string;
  await settle(w.t);
  // As if both had been uploaded before FILES_SCANNER was set; then one's bytes are lost.
  await w.t.s.db.updateTable('files').set({ state: 'unscanned', signature: null, scanned_at: null }).where('id', 'in', [gone, kept]).execute();
  rmSync(w.stored().find((p) => p.endsWith(gone))!);
  const r = await w.t.s.files.sweep();
  assert.deepEqual(r, { scanned: 1, pending: 1 });
  assert.equal((await stateOf(id, 'photo')).state, 'clean');
  const row = await w.t.s.db.selectFrom('files').selectAll().where('id', '=', gone).executeTakeFirstOrThrow();
  assert.equal(row.state, 'unscanned');
  assert.equal(Number(row.scan_attempts), 1);
  assert.ok(Number(row.next_scan_at) > w.t.clock.now());
  assert.equal((await w.t.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  assert.equal(codeOf(await w.download(w.tok.ed!, id, 'notes', gone)), 'FILE_CONTENT_MISSING');
  // A scan started at once (as after an upload) reports the missing bytes once, as the sweep does, not a second time as
  // a failed background task; the file keeps waiting for the sweep.
  const before = w.t.logs.length;
  w.t.s.files.scanSoon(gone);
  await w.t.s.tasks.drain();
  const lines = w.t.logs.slice(before);
  assert.equal(lines.filter((l) => l.includes(`file ${gone}: its stored content is missing`)).length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => l.includes('background task failed')).length, 0, lines.join('\n'));
  // It is never given up (bytes put back must still be scanned): past the attempts a failing scan gets, it keeps its
  // state and waits the longest back-off, an hour.
  await w.t.s.db.updateTable('files').set({ scan_attempts: 20, next_scan_at: 0 }).where('id', '=', gone).execute();
  await w.t.s.files.sweep();
  const later = await w.t.s.db.selectFrom('files').selectAll().where('id', '=', gone).executeTakeFirstOrThrow();
  assert.deepEqual([later.state, Number(later.scan_attempts), Number(later.next_scan_at)], ['unscanned', 21, w.t.clock.now() + 3_600_000]);
  // The store missing as a whole stops the sweep at its first file, as a scanner that is down does: one log line, and
  // no file is charged an attempt.
  const { renameSync } = await import('node:fs');
  const dir = w.t.s.config.files.dir;
  await w.t.s.db.updateTable('files').set({ state: 'unscanned', scanned_at: null, next_scan_at: 0 }).where('id', 'in', [gone, kept]).execute();
  const logged = w.t.logs.length;
  renameSync(dir, `${dir}.away`);
  try {
    assert.deepEqual(await w.t.s.files.sweep(), { scanned: 0, pending: 2 });
  } finally {
    renameSync(`${dir}.away`, dir);
  }
  assert.equal(w.t.logs.slice(logged).filter((l) => l.includes('"task":"file scan"')).length, 1);
  assert.equal(Number((await w.t.s.db.selectFrom('files').select('scan_attempts').where('id', '=', gone).executeTakeFirstOrThrow()).scan_attempts), 21);
  // The store back, the next sweep scans the file that has its bytes.
  assert.equal((await w.t.s.files.sweep()).scanned, 1);
  assert.equal((await stateOf(id, 'photo')).state, 'clean');
  // Deleting such a file works (and leaves the later sweeps of this file's tests nothing to wait for).
  ok(await w.req('DELETE', `${w.filesUrl(id, 'notes')}/${gone}`, w.tok.ed!), 204);
});

test('a file the scanner cannot finish (it answers PING, never the scan) backs off and never holds up the others', async () => {
  // A clamd-like peer on a unix socket: PONG to PING, nothing to INSTREAM.
  const { createServer } = await import('node:net');
  const sock = path.join(linkDir, 'mute.sock');
  const mute = createServer((c) => {
    c.on('data', (d) => {
      if (d.includes('PING')) c.end('PONG\0');
    });
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => mute.listen(sock, r));
  const id = await w.record(w.tok.ed!, 'stuck');
  const first = await w.upload(w.tok.ed!, id, 'notes', Buffer.from('first\n'), 'a.txt');
  ok(first);
  await settle(w.t);
  const second = await w.upload(w.tok.ed!, id, 'photo', png(), 'b.png');
  ok(second);
  await settle(w.t);
  // Both wait in quarantine (the real clamd cleared them meanwhile? then make them pending again, as if it were down).
  await w.t.s.db.updateTable('files').set({ state: 'quarantined', scanned_at: null }).where('record_id', '=', id).execute();
  try {
    rmSync(link, { force: true });
    symlinkSync(sock, link);
    const r = await w.t.s.files.sweep();
    assert.deepEqual(r, { scanned: 0, pending: 2 });
    const rows = await w.t.s.db.selectFrom('files').select(['id', 'scan_attempts', 'next_scan_at']).where('record_id', '=', id).execute();
    // Each file was tried (the first did not stop the sweep) and now waits its back-off.
    assert.deepEqual(
      rows.map((x) => Number(x.scan_attempts)),
      [1, 1],
    );
    assert.ok(rows.every((x) => Number(x.next_scan_at) > w.t.clock.now()));
    // Within the back-off they are not tried again.
    assert.deepEqual(await w.t.s.files.sweep(), { scanned: 0, pending: 0 });
    // At its last attempt a file is given up, quarantined for good, together with its event or not at all: with the
    // event's write failing the file is left as it was, still waiting; once it can be written, both are.
    const last = rows[0]!.id;
    await w.t.s.db.updateTable('files').set({ scan_attempts: 7, next_scan_at: 0 }).where('id', '=', last).execute();
    const failedEvents = async () => (await events(w.t, w.admin, 'file.scan_failed')).filter((e) => e.subjectId === last);
    await refusingEvents(w.t.s.db, 'file.scan_failed', () => assert.rejects(w.t.s.files.sweep()));
    const kept = await w.t.s.db.selectFrom('files').selectAll().where('id', '=', last).executeTakeFirstOrThrow();
    assert.deepEqual([kept.state, kept.scanned_at, Number(kept.scan_attempts)], ['quarantined', null, 7]);
    assert.equal((await failedEvents()).length, 0);
    await w.t.s.db.updateTable('files').set({ next_scan_at: 0 }).where('id', '=', last).execute();
    assert.deepEqual(await w.t.s.files.sweep(), { scanned: 0, pending: 1 });
    const given = await w.t.s.db.selectFrom('files').selectAll().where('id', '=', last).executeTakeFirstOrThrow();
    assert.deepEqual([given.state, Number(given.scan_attempts), given.scanned_at !== null], ['quarantined', 8, true]);
    assert.equal((await failedEvents()).length, 1);
    assert.equal((await failedEvents())[0]!.details.attempts, 8);
    // Given up, it is not tried again (and no second event is written); put back to waiting for what follows.
    assert.deepEqual(await w.t.s.files.sweep(), { scanned: 0, pending: 0 });
    await w.t.s.db.updateTable('files').set({ scanned_at: null, scan_attempts: 1, next_scan_at: 0 }).where('id', '=', last).execute();
    // The real clamd back, after the back-off, both are scanned.
    pointAt(clamd);
    w.t.clock.advance(120);
    assert.equal((await w.t.s.files.sweep()).scanned, 2);
    assert.equal((await stateOf(id, 'photo')).state, 'clean');
  } finally {
    pointAt(clamd);
    await new Promise<void>((r) => mute.close(() => r()));
  }
});

test('the doctor: with FILES_SCANNER set and clamd answering, the files check passes', async () => {
  pointAt(clamd);
  const check = (await w.t.s.doctor.run()).checks.find((c) => c.id === 'files')!;
  assert.equal(check.status, 'pass', check.detail);
  assert.match(check.detail, /clamd answers/);
});

test('palisade files status counts the files by state; files scan runs the sweep now', async () => {
  pointAt(clamd);
  const env = { ...cliEnv(w.t), FILES_SCANNER: `clamd://${link}`, FILES_SCAN_TIMEOUT: '5', FILES_MAX_BYTES: String(1024 * 1024) };
  const id = await w.record(w.tok.ed!, 'cli');
  const up = await w.upload(w.tok.ed!, id, 'photo', png(), 'cli.png');
  ok(up);
  await settle(w.t);
  await w.t.s.db.updateTable('files').set({ state: 'quarantined', scanned_at: null, next_scan_at: null }).where('id', '=', up.json().id).execute();
  const before = await cli(['files', 'status'], env);
  assert.equal(before.code, 0, before.stderr);
  assert.match(before.stdout, /[1-9]\d* quarantined/);
  const scan = await cli(['files', 'scan'], env);
  assert.equal(scan.code, 0, scan.stderr);
  assert.match(scan.stdout, /scanned [1-9]/);
  assert.equal((await stateOf(id, 'photo')).state, 'clean');
  const after = await cli(['files', 'status'], env);
  const quarantined = (out: string) => Number(/(\d+) quarantined/.exec(out)![1]);
  assert.ok(quarantined(after.stdout) < quarantined(before.stdout), `${before.stdout} → ${after.stdout}`);
  // Without a scanner there is nothing to run.
  const none = await cli(['files', 'scan'], cliEnv(w.t));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /needs FILES_SCANNER/);
});
