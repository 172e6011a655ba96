// What the LDAP tests share: a provider added through the admin API, and a sign-in through the form's endpoint.
import assert from 'node:assert/strict';
import { SUFFIX, type Slapd } from '../../helpers/slapd.js';
import { api, type SsoWorld } from './world.js';

export const PEOPLE = `ou=people,${SUFFIX}`;
export const TEMPLATE = `uid={username},${PEOPLE}`;

export async function addLdap(w: SsoWorld, slug: string, ldap: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const r = await api(w, 'POST', '/api/admin/sso/providers', { slug, type: 'ldap', displayName: `Directory ${slug}`, ...extra, ldap });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.provider;
}

/** Direct-bind settings against this slapd. */
export const direct = (d: Pick<Slapd, 'url'>, more: Record<string, unknown> = {}) => ({
  url: d.url,
  bindMode: 'direct',
  bindDnTemplate: TEMPLATE,
  baseDn: SUFFIX,
  connectTimeoutMs: 2000,
  operationTimeoutMs: 2000,
  ...more,
});

export async function ldapLogin(w: SsoWorld, slug: string, username: string, password: string, extra: Record<string, unknown> = {}) {
  const r = await w.t.app.inject({ method: 'POST', url: `/api/auth/sso/${slug}/login`, payload: { username, password, ...extra } });
  return { status: r.statusCode, body: r.json() as any };
}
