// DATA-3 uploads count against the `upload` rate budget: requests, and bytes as declared (up to FILES_MAX_BYTES).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { rateLimitArea } from '../../src/edge/rate-limit.js';
import { png } from './samples.js';
import { codeOf, filesWorld, ok, type FilesWorld } from './world.js';

let w: FilesWorld;
before(async () => {
  w = await filesWorld();
});
after(() => w?.t.close());

test('file uploads spend the upload budget: a request over the count or the bytes is RATE_LIMITED and stores nothing [ASVS V2.4.1]', async () => {
  const id = await w.record(w.tok.ed!, 'budget');
  const current = await w.t.s.settings.get(rateLimitArea);
  await w.t.s.settings.update(rateLimitArea, { ...current, uploadPerUser: 2, uploadBytesPerUser: 10_000 }, null, w.t.clock.now());
  ok(await w.upload(w.tok.ed!, id, 'attachments', png(), 'a.png'));
  ok(await w.upload(w.tok.ed!, id, 'attachments', png(), 'b.png'));
  const rows = (await w.rows()).length;
  const third = await w.upload(w.tok.ed!, id, 'photo', png(), 'c.png');
  assert.equal(third.statusCode, 429, third.body);
  assert.equal(codeOf(third), 'RATE_LIMITED');
  // A new window: the count is back, but a body declared larger than the byte budget is refused.
  w.t.clock.advance(120);
  const big = await w.t.app.inject({
    method: 'POST',
    url: `${w.filesUrl(id, 'photo')}?name=big.png`,
    headers: { authorization: `Bearer ${w.tok.ed}`, 'content-type': 'image/png' },
    payload: Buffer.concat([png(), Buffer.alloc(20_000)]),
  });
  assert.equal(big.statusCode, 429, big.body);
  assert.equal((await w.rows()).length, rows);
});
