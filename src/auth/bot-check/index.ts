import { hostOf, type OutboundAllowlist } from '../../config/outbound.js';
import type { EventContext, SecurityLog } from '../../audit/events.js';
import type { SettingsStore } from '../../config/settings.js';
import { ipBudgetKey } from '../../edge/rate-limit.js';
import { hitWindow } from '../../edge/windows.js';
import { AppError } from '../../errors.js';
import type { SharedState } from '../../shared-state/index.js';
import { PowChallenges, type IssuedChallenge } from './pow.js';
import { RecaptchaVerifier } from './recaptcha.js';
import { botCheckArea, type BotCheckSettings } from './settings.js';

export { botCheckArea, type BotCheckSettings } from './settings.js';

/** Where a check is asked for; also the reCAPTCHA action the token must carry. */
export type BotCheckAction = 'login' | 'forgot_password';
export type BotCheckContext = Omit<EventContext, 'actor'> & { action: BotCheckAction };
export type BotCheckKind = 'pow' | 'recaptcha';

/** What a sign-in form needs to know before it is sent. */
export interface BotCheckStatus {
  kind: 'off' | BotCheckKind;
  /** Whether a request from this address must carry a proof now. */
  required: boolean;
  /** The reCAPTCHA site key, when that is the kind. */
  siteKey: string | null;
}

const ANONYMOUS = { id: null, name: 'anonymous' };

/**
 * Bot checks on sign-in and forgot-password (AUTH-15). The routes call `assert` first, before any
 * lookup or hashing, so a flood without proofs buys no CPU; the password credential reports each
 * failed sign-in with `recordFailure`, which `after-failures` mode counts per address (IPv6 per /64)
 * in the shared state. Refusals are security events, sampled once a minute per address and reason.
 */
export class BotCheckService {
  readonly area = botCheckArea;
  private readonly pow: PowChallenges;
  private readonly recaptcha = new RecaptchaVerifier();

  constructor(
    private readonly d: {
      settings: SettingsStore;
      /** Failure counts and log sampling: may be lost (Redis). */
      shared: SharedState;
      /** Spent proof-of-work challenges: a replay guard, kept in the database. */
      durable: SharedState;
      log: SecurityLog;
      now: () => number;
      appKey: string;
      /** OUTBOUND_ALLOW (D435): the verifier must be on it, when saved and before each request; absent or null: no list. */
      outbound?: OutboundAllowlist | null;
    },
  ) {
    this.pow = new PowChallenges(d.appKey, d.durable, d.now);
  }

  current(): Promise<BotCheckSettings> {
    return this.d.settings.get(this.area);
  }

  async status(ip: string | null | undefined): Promise<BotCheckStatus> {
    const s = await this.current();
    if (s.mode === 'off') return { kind: 'off', required: false, siteKey: null };
    return { kind: s.mode, required: await this.required(s, ip), siteKey: s.mode === 'recaptcha' ? s.recaptchaSiteKey : null };
  }

  /** A signed proof-of-work challenge; NOT_FOUND unless proof of work is the mode. */
  async challenge(): Promise<IssuedChallenge> {
    const s = await this.current();
    if (s.mode !== 'pow') throw new AppError('NOT_FOUND', undefined, 'proof of work is not the bot check');
    return this.pow.create(s);
  }

  /**
   * Passes when no check is needed or the proof holds; throws BOT_CHECK_REQUIRED (no proof; details
   * say which kind), BOT_CHECK_FAILED, or BOT_CHECK_UNAVAILABLE (the reCAPTCHA verifier is down).
   */
  async assert(proof: string | undefined, ctx: BotCheckContext): Promise<void> {
    const s = await this.current();
    if (s.mode === 'off' || !(await this.required(s, ctx.ip))) return;
    const kind = s.mode;
    if (proof === undefined || proof === '') {
      await this.refused(ctx, kind, 'missing');
      const details = kind === 'recaptcha' ? { kind, siteKey: s.recaptchaSiteKey, action: ctx.action } : { kind };
      throw new AppError('BOT_CHECK_REQUIRED', details, 'no proof');
    }
    let reason: string | null;
    if (kind === 'pow') {
      reason = await this.pow.spend(proof);
    } else {
      let verdict: Awaited<ReturnType<RecaptchaVerifier['verify']>>;
      try {
        // A verifier off OUTBOUND_ALLOW is never reached: unavailable, as when it is down (fail closed).
        const host = hostOf(s.recaptchaVerifyUrl);
        if (this.d.outbound && (host === null || !this.d.outbound.allows(host))) {
          throw new AppError('BOT_CHECK_UNAVAILABLE', undefined, `reCAPTCHA verifier ${host} is not in OUTBOUND_ALLOW`, { 'retry-after': '60' });
        }
        verdict = await this.recaptcha.verify(proof, ctx.ip, ctx.action, s);
      } catch (e) {
        await this.refused(ctx, kind, 'unavailable');
        throw e;
      }
      reason = verdict.refusal;
      if (s.recaptchaLogResults) {
        const { answer } = verdict;
        await this.d.log.record(
          { ...ctx, actor: ANONYMOUS },
          {
            type: 'botcheck.recaptcha',
            outcome: reason === null ? 'success' : 'failure',
            details: { ...answer, threshold: s.recaptchaThreshold, expectedAction: ctx.action, refusal: reason },
          },
        );
      }
    }
    if (reason !== null) {
      await this.refused(ctx, kind, reason);
      throw new AppError('BOT_CHECK_FAILED', { kind }, reason);
    }
  }

  /**
   * One failed sign-in from `ip` (any refused password sign-in: wrong password, unknown user, locked).
   * Counted whenever a check is on, so a switch from `always` to `after-failures` finds the count.
   */
  async recordFailure(ip: string | null | undefined): Promise<void> {
    const s = await this.current();
    if (s.mode === 'off') return;
    await hitWindow(this.d.shared, this.failureKey(ip), s.failureWindow, this.d.now());
  }

  private failureKey(ip: string | null | undefined): string {
    return `botcheck:fail:${ip ? ipBudgetKey(ip) : 'unknown'}`;
  }

  /** `always`, or this address's failed sign-ins in the sliding window have reached the setting. */
  private async required(s: BotCheckSettings, ip: string | null | undefined): Promise<boolean> {
    if (s.when === 'always') return true;
    const w = s.failureWindow * 1000;
    const now = this.d.now();
    const idx = Math.floor(now / w);
    const key = this.failureKey(ip);
    const [curr, prev] = await Promise.all([this.d.shared.count(`${key}:${idx}`), this.d.shared.count(`${key}:${idx - 1}`)]);
    return curr + Math.floor(prev * (1 - (now - idx * w) / w)) >= s.failures;
  }

  /** A refusal event, at most once a minute per address and reason, so a flood cannot fill the log. */
  private async refused(ctx: BotCheckContext, kind: BotCheckKind, reason: string): Promise<void> {
    const key = `botcheck:log:${ctx.ip ? ipBudgetKey(ctx.ip) : 'unknown'}:${reason}`;
    if (!(await this.d.shared.setIfAbsent(key, '1', 60_000))) return;
    await this.d.log.record(
      { ...ctx, actor: ANONYMOUS },
      { type: 'botcheck.refused', outcome: 'failure', details: { kind, reason, action: ctx.action, sampled: 'once a minute per address and reason' } },
    );
  }
}
