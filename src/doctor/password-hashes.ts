/**
 * The `password-hashes` check: accounts whose stored password hash verifies nothing because its parameters are past
 * what a sign-in may cost, or because it is of no kind Palisade reads (D466: a restored row, or one imported before
 * the bounds). Such a user cannot sign in with a password until it is set again, and nothing else says so.
 */
import type { Db } from '../db/index.js';
import { isImportableHash } from '../auth/passwords.js';

/** Names listed in the report at most (the count is always whole). */
const NAMED = 10;

export interface HashVerdict {
  status: 'pass' | 'warn';
  detail: string;
  fix: string;
}

export async function passwordHashVerdict(db: Db): Promise<HashVerdict> {
  const unusable: string[] = [];
  let after = '';
  // Paged by username, so a large user table is never read at once.
  for (;;) {
    const rows = await db
      .selectFrom('users')
      .select(['username', 'password_hash'])
      .where('password_hash', 'is not', null)
      .where('username', '>', after)
      .orderBy('username')
      .limit(1000)
      .execute();
    for (const r of rows) if (!isImportableHash(r.password_hash!)) unusable.push(r.username);
    if (rows.length < 1000) break;
    after = rows[rows.length - 1]!.username;
  }
  if (unusable.length === 0) return { status: 'pass', detail: 'every stored password hash can be verified', fix: '' };
  const named = unusable.slice(0, NAMED).join(', ') + (unusable.length > NAMED ? `, and ${unusable.length - NAMED} more` : '');
  return {
    status: 'warn',
    detail: `${unusable.length} account${unusable.length === 1 ? '' : 's'} cannot sign in with a password: the stored hash is past the cost bounds or of an unknown kind (${named})`,
    fix: 'Set their passwords again: a reset link (Admin, Users), or palisade user set-password --username U.',
  };
}
