import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createMailer, outboxDir, type MailMessage } from '../../../src/mail/index.js';
import { TestSmtp } from '../../helpers/smtp.js';

/**
 * Bug class: recipient smuggling at the mailer (defence in depth). nodemailer parses a `to` string
 * for display names and lists; the mailer must hand it only one plain address, as an object, and
 * refuse anything else before any byte goes out, whatever the caller passed.
 */

const BAD = [
  'victim@example.org, attacker@evil.test',
  'Victim <attacker@evil.test>',
  'name<attacker@evil.test>',
  '"x<attacker@evil.test>"@example.org',
  'victim@example.org\r\nBcc: attacker@evil.test',
  'attacker@evil.test (victim@example.org)',
];

let smtp: TestSmtp;
before(async () => {
  smtp = await new TestSmtp().start();
});
after(async () => {
  await smtp.stop();
});

const msg = (to: string): MailMessage => ({ to, subject: 'Reset', text: 'link', html: '<p>link</p>' });

test('mail recipient smuggling: the SMTP mailer refuses any recipient that is not one plain address, and sends nothing [ASVS V1.3.11]', async () => {
  const m = createMailer({ smtpUrl: smtp.url, from: 'Palisade <noreply@example.org>', dataDir: mkdtempSync(path.join(tmpdir(), 'palisade-mail-')) });
  try {
    for (const to of BAD) await assert.rejects(m.send(msg(to)), { code: 'MAIL_ADDRESS_INVALID' }, JSON.stringify(to));
    assert.equal(smtp.mails.length, 0);
    await m.send(msg('victim@example.org'));
    assert.equal(smtp.mails.length, 1);
    assert.deepEqual(smtp.mails[0]!.to, ['victim@example.org']);
    assert.equal(smtp.mails[0]!.from, 'noreply@example.org');
    assert.match(smtp.mails[0]!.raw, /^To: victim@example\.org\r?$/m);
  } finally {
    m.close();
  }
});

test('mail recipient smuggling: the outbox mailer refuses them too and writes no file [ASVS V1.3.11]', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'palisade-mail-'));
  const m = createMailer({ smtpUrl: null, from: 'palisade@localhost', dataDir: dir });
  for (const to of BAD) await assert.rejects(m.send(msg(to)), { code: 'MAIL_ADDRESS_INVALID' });
  assert.equal(existsSync(outboxDir(dir)), false);
  await m.send(msg('victim@example.org'));
  assert.equal(readdirSync(outboxDir(dir)).length, 1);
});

test('mail recipient smuggling: a sender that is not one address with an optional plain name is refused [ASVS V1.3.11]', () => {
  for (const from of ['a@x.org, b@y.org', 'Palisade <a@x.org>, b@y.org', 'Pal\r\nBcc: b@y.org <a@x.org>', '"Pal" <a@x.org>', 'Pal <a@x.org> <b@y.org>']) {
    assert.throws(() => createMailer({ smtpUrl: null, from, dataDir: tmpdir() }), { code: 'MAIL_ADDRESS_INVALID' }, JSON.stringify(from));
  }
  assert.doesNotThrow(() => createMailer({ smtpUrl: null, from: 'Palisade Team <noreply@example.org>', dataDir: tmpdir() }));
});
