import { randomInt } from 'node:crypto';
import type { Db } from '../../db/index.js';
import type { UsersTable } from '../../db/types.js';
import type { SettingsStore } from '../../config/settings.js';
import { AppError } from '../../errors.js';
import type { PasswordHasher } from '../passwords.js';
import { passwordPolicyArea, type PasswordPolicy } from './schema.js';
import { evaluatePassword, type PasswordSubject, type RuleFailure } from './rules.js';
import { isReused } from './history.js';

export { PASSWORD_POLICY_DEFAULTS, passwordPolicyArea, type PasswordPolicy } from './schema.js';
export type { RuleFailure, PasswordSubject } from './rules.js';

/**
 * How long a one-time password signs in (ASVS V6.4.1, D366): a generated password, or one an administrator set with a
 * required change. After it, the sign-in is INITIAL_PASSWORD_EXPIRED and an administrator issues a new one.
 */
export const ONE_TIME_PASSWORD_VALIDITY_MS = 72 * 3600_000;

/** The PASSWORD_REJECTED error: every failed rule, by stable code, with what a UI needs to explain it. */
export function rejected(failed: RuleFailure[]): AppError {
  return new AppError('PASSWORD_REJECTED', { rules: failed.map((f) => f.code), failed });
}

export interface ExpiryStatus {
  /** Epoch ms; null when passwords do not expire or the user has none. */
  expiresAt: number | null;
  expired: boolean;
  /** Inside the reminder period before expiry. */
  reminder: boolean;
}

/** The password policy (AUTH-7): rules, history, expiry and compliant generated passwords. */
export class PasswordPolicyService {
  readonly area = passwordPolicyArea;

  constructor(
    private readonly db: Db,
    private readonly settings: SettingsStore,
    private readonly hasher: PasswordHasher,
    private readonly now: () => number,
  ) {}

  current(): Promise<PasswordPolicy> {
    return this.settings.get(this.area);
  }

  /**
   * Throws PASSWORD_REJECTED listing every rule the new password fails. The history is checked
   * only for a password that may be hashed at all (not overlong, well formed).
   */
  async assertAcceptable(
    password: string,
    who: PasswordSubject & { user?: Pick<UsersTable, 'id' | 'password_hash'> },
    /** 1 where the new password must at least differ from the current one (own change, expired password). */
    minHistory = 0,
  ): Promise<void> {
    const policy = await this.current();
    const failed = evaluatePassword(password, policy, who);
    const hashable = !failed.some((f) => f.code === 'PASSWORD_TOO_LONG' || f.code === 'PASSWORD_INVALID_UNICODE');
    const history = Math.max(policy.history, minHistory);
    if (hashable && who.user && history > 0 && (await isReused(this.db, this.hasher, who.user.id, who.user.password_hash, password, history))) {
      failed.push({ code: 'PASSWORD_REUSED', history });
    }
    if (failed.length > 0) throw rejected(failed);
  }

  /** A random password that meets the current policy (CLI and first boot), shown once by the caller. */
  async generate(who: PasswordSubject): Promise<string> {
    const policy = await this.current();
    const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
    const length = Math.min(policy.maxLength, Math.max(24, policy.minLength));
    for (let attempt = 0; attempt < 100; attempt++) {
      const chars = Array.from({ length }, () => alphabet[randomInt(alphabet.length)]!);
      // One of each group at random places, so that any group requirement holds.
      const groups = ['abcdefghijkmnopqrstuvwxyz', 'ABCDEFGHJKLMNPQRSTUVWXYZ', '23456789', policy.symbols];
      const places = new Set<number>();
      while (places.size < groups.length) places.add(randomInt(length));
      [...places].forEach((p, i) => {
        const g = [...groups[i]!];
        chars[p] = g[randomInt(g.length)]!;
      });
      const pw = chars.join('');
      if (evaluatePassword(pw, policy, who).length === 0) return pw;
    }
    throw new Error('could not generate a password that meets the policy; check the custom rules');
  }

  /** When the user's password expires, and whether sign-ins should remind them. */
  expiry(user: Pick<UsersTable, 'password_hash' | 'password_changed_at' | 'created_at' | 'sso_only'>, policy: PasswordPolicy): ExpiryStatus {
    if (policy.validity === 0 || !user.password_hash || user.sso_only === 1) return { expiresAt: null, expired: false, reminder: false };
    const expiresAt = (user.password_changed_at ?? user.created_at) + policy.validity * 1000;
    const now = this.now();
    return { expiresAt, expired: now >= expiresAt, reminder: now < expiresAt && now >= expiresAt - policy.reminder * 1000 };
  }
}
