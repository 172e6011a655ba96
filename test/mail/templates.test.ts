import { test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from '../../src/mail/templates.js';

// Pure unit test of the templates: usernames are restricted today, but the templates must not rely on it.
test('every value is escaped in HTML and stripped of line breaks in text [ASVS V1.1.2, V1.2.1, V1.2.2, V1.3.7, V1.3.11]', () => {
  const hostile = '<img src=x onerror="alert(1)">\r\nBcc: victim@example.org';
  for (const kind of ['reset', 'admin_reset', 'invitation', 'reminder'] as const) {
    const m = render(kind, 'to@example.org', { username: hostile, link: 'https://x.example/reset-password#token=a"b<c', expiresAt: Date.UTC(2026, 0, 1) });
    assert.doesNotMatch(m.html, /<img/);
    assert.match(m.html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
    assert.match(m.html, /href="https:\/\/x\.example\/reset-password#token=a&quot;b&lt;c"/);
    assert.doesNotMatch(m.text, /\r|\nBcc:/);
    assert.doesNotMatch(m.subject, /img/);
  }
});
