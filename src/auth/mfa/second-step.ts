import type { Db } from '../../db/index.js';
import type { MfaChallengesTable, UsersTable } from '../../db/types.js';
import type { EventContext } from '../../audit/events.js';
import { AppError } from '../../errors.js';
import { renderCode } from '../../mail/templates.js';
import { withSecondFactor, type SecondFactor, type SignInMethod } from '../session/types.js';
import type { SessionAsked } from '../session/create.js';
import { claimChallenge, inspectChallenge, type ChallengeKind } from './challenge.js';
import { codeAttempt } from './attempt.js';
import { issueEmailCode, maskAddress, spendEmailCode } from './email-code.js';
import { factorState, offeredMethods } from './factors.js';
import { spendRecoveryCode } from './recovery.js';
import { sendSignInSms } from './sms.js';
import { spendTotp } from './totp.js';
import { mfaArea } from './settings.js';
import type { MfaDeps } from './deps.js';
import { successRecorder } from './trusted-ip.js';

/**
 * A second step that passed: who, with which factor, the method the session is opened with (the first step's, a
 * password or a single sign-on, with the factor) and the session the first step asked for.
 */
export interface ProvenSecondStep {
  user: UsersTable;
  factor: SecondFactor;
  method: SignInMethod;
  session: SessionAsked;
}

/** What a challenge's row and the factor proven for it give the route that opens the session. */
export const provenStep = (row: MfaChallengesTable, user: UsersTable, factor: SecondFactor): ProvenSecondStep => ({
  user,
  factor,
  method: withSecondFactor(row.first_method, factor),
  session: { mode: row.mode, rememberMe: row.remember === 1 },
});

export const actorOf = (request: Omit<EventContext, 'actor'>, user: UsersTable): EventContext => ({
  ...request,
  actor: { id: user.id, name: user.username },
});

/**
 * The second step of a sign-in (a credential: it proves, and opens no session; the route then calls
 * `SessionService.create` with the proven factor). The challenge token comes from the first step only;
 * it is spent in the same transaction as the code, so neither can be used twice, and a wrong code
 * spends a lockout attempt on the account.
 */
export class SecondStep {
  constructor(private readonly d: MfaDeps) {}

  /** The token's row and user; MFA_TOKEN_INVALID (recorded) for a token that cannot be used. */
  async token(token: string, kind: ChallengeKind, request: Omit<EventContext, 'actor'>): Promise<{ row: MfaChallengesTable; user: UsersTable }> {
    const r = await inspectChallenge(this.d.db, token, kind, this.d.now());
    const user = r.row ? await this.d.db.selectFrom('users').selectAll().where('id', '=', r.row.user_id).executeTakeFirst() : undefined;
    if (r.problem === null && user) return { row: r.row, user };
    const reason = r.problem ?? 'unknown_user';
    const ctx: EventContext = user ? actorOf(request, user) : { ...request, actor: { id: null, name: 'anonymous' } };
    await this.d.log.record(ctx, { type: 'mfa.verified', outcome: 'failure', subjectId: user?.id ?? null, details: { reason, step: kind } });
    throw new AppError('MFA_TOKEN_INVALID', undefined, reason);
  }

  async verify(input: { challengeToken: string; method: SecondFactor; code: string }, request: Omit<EventContext, 'actor'>): Promise<ProvenSecondStep> {
    const { row, user } = await this.token(input.challengeToken, 'signin', request);
    const ctx = actorOf(request, user);
    const method = input.method;
    if (!(await offeredMethods(this.d.db, this.d.settings, user)).includes(method)) {
      await this.d.log.record(ctx, { type: 'mfa.verified', outcome: 'failure', subjectId: user.id, details: { method, reason: 'method_unavailable' } });
      throw new AppError('MFA_METHOD_UNAVAILABLE');
    }
    const failure = { type: 'mfa.verified', outcome: 'failure', subjectId: user.id, details: { method, reason: 'bad_code' } } as const;
    const noteAddress = await successRecorder(this.d, ctx, user.id);
    const result = await codeAttempt(this.d, user, ctx, failure, () =>
      this.d.db.transaction().execute(async (trx) => {
        const now = this.d.now();
        if (!(await this.spend(trx, method, user.id, row.id, input.code, now))) return false;
        // The challenge goes with the code: a second request with the same token and code loses here.
        if (!(await claimChallenge(trx, row.id, now))) throw new AppError('MFA_TOKEN_INVALID', undefined, 'used concurrently');
        await this.d.log.record(ctx, { type: 'mfa.verified', outcome: 'success', subjectId: user.id, details: { method } }, trx);
        await noteAddress(trx, now);
        return true;
      }),
    );
    // The first step was right and the second wrong: whoever tried holds the password (ASVS V6.3.5).
    if (result === 'wrong') this.d.notices.secondFactorFailed(user, ctx);
    if (result !== 'ok') throw new AppError('MFA_CODE_INVALID', undefined, result);
    return provenStep(row, user, method);
  }

  private spend(trx: Db, method: SecondFactor, userId: string, challengeId: string, code: string, now: number): Promise<boolean> {
    // A passkey is proven by an assertion (passkey-step.ts), never by a code.
    if (method === 'passkey') return Promise.resolve(false);
    if (method === 'totp') return spendTotp(trx, this.d.keys, userId, code, now, true);
    if (method === 'email') return spendEmailCode(trx, this.d.keys, userId, 'signin', challengeId, code, now);
    if (method === 'sms') return spendEmailCode(trx, this.d.keys, userId, 'sms_signin', challengeId, code, now);
    return spendRecoveryCode(trx, userId, code, now);
  }

  /** Texts a sign-in code for the challenge to the user's confirmed number (before the answer: a failing gateway is a 503). */
  async sendSmsCode(challengeToken: string, request: Omit<EventContext, 'actor'>): Promise<{ sentTo: string; expiresAt: number }> {
    const { row, user } = await this.token(challengeToken, 'signin', request);
    return sendSignInSms(this.d, user, row.id, actorOf(request, user));
  }

  /** Mails a sign-in code for the challenge (after the answer); a newer code replaces it. */
  async sendCode(challengeToken: string, request: Omit<EventContext, 'actor'>): Promise<{ sentTo: string; expiresAt: number }> {
    const { row, user } = await this.token(challengeToken, 'signin', request);
    if (!(await factorState(this.d.db, user)).emailUsable || !user.email) throw new AppError('MFA_METHOD_UNAVAILABLE');
    const { emailCodeValidity, emailCodes } = await this.d.settings.get(mfaArea);
    // Withdrawn (ASVS V6.3.6): the user has it, and gets no code; another factor or a recovery code finishes the sign-in.
    if (!emailCodes) throw new AppError('MFA_EMAIL_DISABLED', undefined, 'email codes are off');
    const { code, expiresAt } = await issueEmailCode(this.d, user.id, 'signin', row.id, emailCodeValidity, (trx) =>
      this.d.log.record(actorOf(request, user), { type: 'mfa.code_sent', outcome: 'info', subjectId: user.id, details: { purpose: 'signin' } }, trx),
    );
    const msg = renderCode('signin', user.email, { username: user.username, code, expiresAt });
    this.d.tasks.run('mail-mfa-code', () => this.d.mailer.send(msg));
    return { sentTo: maskAddress(user.email), expiresAt };
  }
}
