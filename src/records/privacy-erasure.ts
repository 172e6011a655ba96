/**
 * A data subject's erasure request (AUDIT-5), as work for the privacy machinery: the records the user
 * created or is linked to (user fields, member lists), or whose field holds the value, and what is
 * recorded of the subject (a keyed hash, never the id or value itself).
 */
import { sql, type RawBuilder, type SqlBool } from 'kysely';
import { compileFilter } from '../collections/filter.js';
import { membersTableOf, tableOf, type CollectionDef } from '../collections/schema.js';
import { isPlainObject } from './codec.js';
import type { Target } from './privacy-apply.js';
import { checkValues, invalid, keyedHash, PRIVACY_ACTIONS, type AnonValues, type PrivacyAction } from './privacy-rules.js';

export interface ErasureRequest {
  collection: string;
  by: { userId: string } | { field: string; value: unknown };
  action: PrivacyAction;
  values?: AnonValues;
  dryRun?: boolean;
}

/** The request checked against the collection, as a target; `about` is what the audit entries say of it. */
export function erasureTarget(def: CollectionDef, req: ErasureRequest, now: number, hashKey: Buffer): { target: Target; about: Record<string, unknown> } {
  const problems: string[] = [];
  if (!PRIVACY_ACTIONS.includes(req.action)) problems.push('action: delete or anonymise');
  let values = req.values;
  // An anonymising erasure by value without values empties the field it names (or makes one up where
  // the field must hold a value); the checks below refuse a field that can be neither.
  if (req.action === 'anonymise' && values === undefined && 'field' in req.by) {
    const f = def.fields.find((x) => x.name === (req.by as { field: string }).field);
    if (f) values = { [f.name]: { kind: f.required || f.unique ? 'fake' : 'null' } };
  }
  problems.push(...checkValues(def, values ?? {}));
  const n = isPlainObject(values) ? Object.keys(values).length : 0;
  if (req.action === 'delete' && n > 0) problems.push('values: a deletion takes no values');
  if (req.action === 'anonymise' && 'userId' in req.by)
    for (const f of def.fields)
      if (f.type === 'user' && f.required) problems.push(`by.userId: ${JSON.stringify(f.name)} is a required user field and cannot be emptied; use delete`);
  if (problems.length > 0) throw invalid(problems);
  const t = tableOf(def.name);
  const base = { def, action: req.action, values: values ?? {}, purgeHistory: true, skipAnonymised: false };
  if ('userId' in req.by) {
    const uid = req.by.userId;
    const links: RawBuilder<SqlBool>[] = [sql<SqlBool>`${sql.ref(`${t}.created_by`)} = ${uid}`];
    for (const f of def.fields) {
      if (f.type === 'user') links.push(sql<SqlBool>`${sql.ref(`${t}.${f.name}`)} = ${uid}`);
      if (f.type === 'members')
        links.push(
          sql<SqlBool>`exists (select 1 from ${sql.table(membersTableOf(def.name, f.name))} m where m.record_id = ${sql.ref(`${t}.id`)} and m.user_id = ${uid})`,
        );
    }
    return {
      target: { ...base, where: sql<SqlBool>`(${sql.join(links, sql` or `)})`, unlinkUser: uid },
      about: { erasure: 'user', subject: keyedHash(hashKey, `erasure:${uid}`) },
    };
  }
  const { field, value } = req.by;
  if (value === null || value === undefined) throw invalid(['by.value: the value to look for']);
  // The filter language checks the field and the value's type (FIELD_UNKNOWN, FILTER_INVALID).
  const where = compileFilter({ [field]: { $eq: value } }, { def, vars: { userId: '', roles: [], departments: [], now } });
  return {
    target: { ...base, where },
    about: { erasure: 'field', field, subject: keyedHash(hashKey, `erasure:${typeof value === 'string' ? value : JSON.stringify(value)}`) },
  };
}
