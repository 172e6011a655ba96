// DATA-2: the backup passphrase's key is derived off the event loop, in age's own format (an archive opens with
// any age tool, and an age tool's archive opens here), and a wrong passphrase or a crafted stanza is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decrypter, Encrypter, Stanza } from 'age-encryption';
import { PassphraseIdentity, PassphraseRecipient } from '../../src/backup/passphrase.js';

const text = new TextEncoder().encode('palisade backup body');

async function ours(passphrase: string): Promise<Uint8Array> {
  const e = new Encrypter();
  e.addRecipient(new PassphraseRecipient(passphrase));
  return e.encrypt(text);
}
async function openOurs(sealed: Uint8Array, passphrase: string): Promise<string> {
  const d = new Decrypter();
  d.addIdentity(new PassphraseIdentity(passphrase));
  return new TextDecoder().decode(await d.decrypt(sealed));
}

test("archives are age's: ours open with age's passphrase identity, age's open with ours", async () => {
  const a = new Decrypter();
  a.addPassphrase('correct horse battery');
  assert.equal(new TextDecoder().decode(await a.decrypt(await ours('correct horse battery'))), 'palisade backup body');
  const e = new Encrypter();
  e.setPassphrase('zürich passphrase ✓');
  assert.equal(await openOurs(await e.encrypt(text), 'zürich passphrase ✓'), 'palisade backup body');
});

test('a wrong passphrase opens nothing', async () => {
  await assert.rejects(openOurs(await ours('right one'), 'wrong one'), /no identity matched/);
});

test('the key is derived while the server goes on answering (the event loop is not held)', async () => {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks += 1;
  }, 5);
  try {
    await new PassphraseRecipient('p').wrapFileKey(new Uint8Array(16));
  } finally {
    clearInterval(timer);
  }
  // age-encryption's own scrypt runs synchronously: not one tick would pass while it derives.
  assert.ok(ticks > 0, `ticks: ${ticks}`);
});

test('crafted stanzas are refused: another beside scrypt, a work factor too high, a malformed salt', async () => {
  const good = (await new PassphraseRecipient('p').wrapFileKey(new Uint8Array(16)))[0]!;
  const id = new PassphraseIdentity('p');
  await assert.rejects(id.unwrapFileKey([good, new Stanza(['X25519', 'abc'], new Uint8Array(32))]), /not the only one/);
  await assert.rejects(id.unwrapFileKey([new Stanza(['scrypt', good.args[1]!, '21'], good.body)]), /too high/);
  await assert.rejects(id.unwrapFileKey([new Stanza(['scrypt', `${good.args[1]!}==`, '18'], good.body)]), /invalid scrypt stanza/);
  await assert.rejects(id.unwrapFileKey([new Stanza(['scrypt', 'AAAA', '18'], good.body)]), /invalid scrypt stanza/);
  assert.equal(await id.unwrapFileKey([new Stanza(['X25519', 'abc'], new Uint8Array(32))]), null);
  assert.deepEqual(await id.unwrapFileKey([good]), new Uint8Array(16));
});

test("the backup key is stretched with scrypt at age's work factor (log2 N 18, r 8, p 1) and a fresh 16-byte salt each time [ASVS V11.4.4, V11.3.4]", async () => {
  const a = (await new PassphraseRecipient('the same passphrase').wrapFileKey(new Uint8Array(16)))[0]!;
  const b = (await new PassphraseRecipient('the same passphrase').wrapFileKey(new Uint8Array(16)))[0]!;
  for (const s of [a, b]) {
    assert.equal(s.args[0], 'scrypt');
    assert.equal(s.args[2], '18');
    assert.equal(Buffer.from(s.args[1]!, 'base64').length, 16);
  }
  // The file key is sealed under a zero nonce, which is safe only because each salt makes a key of its own.
  assert.notEqual(a.args[1], b.args[1]);
  assert.notDeepEqual(a.body, b.body);
  // Read with a lower work factor than it was made with, the stanza opens nothing: the factor is part of the key.
  assert.equal(await new PassphraseIdentity('the same passphrase').unwrapFileKey([new Stanza(['scrypt', a.args[1]!, '10'], a.body)]), null);
  assert.deepEqual(await new PassphraseIdentity('the same passphrase').unwrapFileKey([a]), new Uint8Array(16));
});
