import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Blocklist } from '../../src/auth/password-policy/blocklist.js';

// Pure unit test of the shipped list: size, case-insensitivity, lookups by binary search.
test('the offline blocklist has at least 100,000 entries and matches case-insensitively', () => {
  const list = new Blocklist();
  try {
    assert.ok(list.size() >= 100_000, `${list.size()} entries`);
    for (const pw of ['123456', 'password', 'PASSWORD', 'PassWord', 'qwerty123456789', 'Trustno1', 'ILOVEYOU', 'passwordpassword', '1qaz2wsx3edc4rfv']) {
      assert.equal(list.has(pw), true, pw);
    }
    for (const pw of ['Quiet-meadow-2931', 'Correct-horse-battery-9', 'zq8#Lk2!vB9@pX4$']) assert.equal(list.has(pw), false, pw);
  } finally {
    list.close();
  }
});
