import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { match, safeNext } from '../../ui/src/lib/paths.js';

describe('admin UI: address helpers', () => {
  it('safeNext keeps same-origin paths and refuses everything that could leave the site', () => {
    assert.equal(safeNext('/admin/users?q=a'), '/admin/users?q=a');
    for (const bad of [
      null,
      '',
      'https://evil.example/',
      '//evil.example/x',
      '/\\evil.example',
      'javascript:alert(1)',
      'admin',
      '/\t/evil.example',
      '/.//evil.example',
      '/\n/evil.example',
    ]) {
      assert.equal(safeNext(bad), '/', String(bad));
    }
  });

  it('match reads parameters and refuses other shapes', () => {
    assert.deepEqual(match('/data/:collection/:id', '/data/tasks/42'), { collection: 'tasks', id: '42' });
    assert.deepEqual(match('/data/:collection', '/data/a%20b'), { collection: 'a b' });
    assert.equal(match('/data/:collection', '/data/tasks/42'), undefined);
    assert.equal(match('/admin/users', '/admin/roles'), undefined);
    assert.deepEqual(match('/', '/'), {});
    assert.equal(match('/data/:collection', '/data/%E0%A4%A'), undefined, 'a malformed escape matches nothing instead of throwing');
  });
});
