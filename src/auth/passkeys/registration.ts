import type { PublicKeyCredentialCreationOptionsJSON } from '@simplewebauthn/server';
import type { UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { newId } from '../session/types.js';
import { CEREMONY_TIMEOUT_MS, claimCeremony, issueCeremony } from './challenges.js';
import { challengeOf, verifyNewCredential, type RegistrationResponseJSON } from './ceremony.js';
import { requirePasskeys } from './env.js';
import { fromBase64Url, webauthn } from './webauthn.js';
import { MAX_PASSKEYS, type PasskeyDeps } from './deps.js';
import { remainingRecoveryCodes, replaceRecoveryCodes } from '../mfa/recovery.js';
import { passkeyView, type PasskeyView } from './view.js';

const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

/**
 * Registering a passkey for a signed-in user (the route needs a session, and the service a fresh
 * password first). The options carry a challenge bound to this user, spent by the first response that
 * names it; the new credential must be discoverable and verify its user, so it can sign in alone.
 */
export class PasskeyRegistration {
  constructor(private readonly d: PasskeyDeps) {}

  async options(user: UsersTable): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const cfg = requirePasskeys(this.d.config);
    const existing = await this.d.db.selectFrom('passkeys').select(['credential_id', 'transports']).where('user_id', '=', user.id).execute();
    if (existing.length >= MAX_PASSKEYS) throw new AppError('PASSKEY_LIMIT_REACHED');
    const challenge = await issueCeremony(this.d.db, 'register', user.id, this.d.now());
    return (await webauthn()).generateRegistrationOptions({
      rpName: cfg.rpName,
      rpID: cfg.rpId,
      userName: user.username,
      userDisplayName: user.username,
      // The user handle is the user's id: no name or address inside the authenticator.
      userID: new TextEncoder().encode(user.id),
      challenge: fromBase64Url(challenge),
      timeout: CEREMONY_TIMEOUT_MS,
      attestationType: 'none',
      excludeCredentials: existing.map((x) => ({ id: x.credential_id, transports: x.transports ? (JSON.parse(x.transports) as string[]) : undefined })),
      authenticatorSelection: { residentKey: 'required', requireResidentKey: true, userVerification: 'required' },
    });
  }

  /**
   * Checks the response against its spent challenge and stores the passkey with its event, in one
   * transaction. A passkey is a second factor too: as the user's first factor it brings the ten recovery
   * codes, answered this once (null when the user already had a set).
   */
  async verify(
    user: UsersTable,
    response: RegistrationResponseJSON,
    name: string,
    ctx: EventContext,
  ): Promise<{ passkey: PasskeyView; recoveryCodes: string[] | null }> {
    const cfg = requirePasskeys(this.d.config);
    const challenge = challengeOf(response.response.clientDataJSON);
    const now = this.d.now();
    const refuse = async (reason: string) => {
      await this.d.log.record(ctx, { type: 'passkey.registered', outcome: 'failure', subjectId: user.id, details: { reason } });
    };
    if (challenge === null || !(await claimCeremony(this.d.db, challenge, 'register', user.id, now))) {
      await refuse(challenge === null ? 'malformed' : 'challenge_invalid');
      throw new AppError(challenge === null ? 'PASSKEY_REGISTRATION_FAILED' : 'PASSKEY_CHALLENGE_INVALID');
    }
    const v = await verifyNewCredential(cfg, response, challenge);
    if (!v.ok) {
      await refuse(v.reason);
      throw new AppError('PASSKEY_REGISTRATION_FAILED', undefined, v.reason);
    }
    const c = v.credential;
    const row = {
      id: newId(),
      user_id: user.id,
      credential_id: c.credentialId,
      public_key: c.publicKey,
      counter: c.counter,
      transports: JSON.stringify(c.transports.filter((t) => TRANSPORTS.has(t)).slice(0, 8)),
      name,
      aaguid: c.aaguid,
      backed_up: c.backedUp ? 1 : 0,
      created_at: now,
      last_used_at: null,
      last_used_ip: null,
    };
    const recoveryCodes = await this.d.db.transaction().execute(async (trx) => {
      const count = await trx
        .selectFrom('passkeys')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('user_id', '=', user.id)
        .executeTakeFirstOrThrow();
      if (Number(count.n) >= MAX_PASSKEYS) throw new AppError('PASSKEY_LIMIT_REACHED');
      // A credential already registered (here or by another user) answers CONFLICT from its unique index.
      await trx.insertInto('passkeys').values(row).execute();
      const codes = (await remainingRecoveryCodes(trx, user.id)) === 0 ? await replaceRecoveryCodes(trx, user.id, now) : null;
      await this.d.log.record(
        ctx,
        {
          type: 'passkey.registered',
          outcome: 'success',
          subjectId: user.id,
          details: { passkeyId: row.id, name, aaguid: c.aaguid, recoveryCodesCreated: codes !== null },
        },
        trx,
      );
      return codes;
    });
    this.d.notices.authChanged(user, 'passkey_added', ctx);
    return { passkey: passkeyView(row), recoveryCodes };
  }
}
