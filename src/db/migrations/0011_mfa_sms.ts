import type { Kysely, Migration } from 'kysely';

/**
 * AUTH-12: SMS one-time codes. The phone number a user receives codes on, sealed (nonce + ciphertext)
 * with a masked hint for display; confirmed once a first code sent to it came back. The codes
 * themselves are kept with the emailed ones (`mfa_email_codes`, purposes `sms_signin` and `sms_enable`).
 */
export function migration(): Migration {
  const big = 'bigint' as const;
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('mfa_sms')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('phone_nonce', 'text', (c) => c.notNull())
        .addColumn('phone_ciphertext', 'text', (c) => c.notNull())
        .addColumn('phone_hint', 'text', (c) => c.notNull())
        .addColumn('created_at', big, (c) => c.notNull())
        .addColumn('confirmed_at', big)
        .execute();
    },
  };
}
