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

describe('admin UI: which pages the menus show', async () => {
  const { NAV, shown } = await import('../../ui/src/lib/nav.js');
  const who = (isAdmin: boolean, permissions: string[], menus: string[] = []) => ({
    isAdmin,
    can: (p: string) => isAdmin || permissions.includes(p),
    menu: (k: string) => menus.length === 0 || menus.includes('*') || menus.some((m) => m === k || k.startsWith(`${m}.`)),
  });
  const labels = (w: ReturnType<typeof who>) => NAV.filter((n) => shown(n, w)).map((n) => n.key);

  it('follow permissions; explain is for administrators only; menu keys narrow, never widen', () => {
    const manager = labels(who(false, ['roles.manage']));
    assert.ok(manager.includes('admin.roles') && manager.includes('admin.departments'));
    assert.ok(!manager.includes('admin.explain'), 'the explain endpoint answers administrators only');
    assert.ok(!manager.includes('admin.users'));
    assert.ok(labels(who(true, [])).includes('admin.explain'));
    assert.deepEqual(labels(who(false, ['roles.manage'], ['account'])), [
      'account',
      'account.security',
      'account.sessions',
      'account.api-keys',
      'account.applications',
    ]);
    assert.ok(!labels(who(false, [], ['admin'])).includes('admin.users'), 'a menu key gives no page without its permission');
  });
});
