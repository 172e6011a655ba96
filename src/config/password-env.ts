import { boolVar, durationVar, intVar, secretVar, type Env } from './index.js';
import { checkPasswordPolicy, PASSWORD_POLICY_DEFAULTS, type CustomRule, type PasswordPolicy } from '../auth/password-policy/schema.js';
import { parseSender } from '../mail/address.js';
import { checkPasswordReset, PASSWORD_RESET_DEFAULTS, type PasswordResetSettings } from '../auth/reset/settings.js';

export interface MailConfig {
  /** smtp:// or smtps:// URL; null: mail goes to DATA_DIR/outbox. */
  readonly smtpUrl: string | null;
  readonly from: string;
  /** Base URL of the links in mails, without a trailing slash. */
  readonly publicUrl: string;
}

export interface PasswordConfig {
  passwordPolicy: PasswordPolicy;
  passwordReset: PasswordResetSettings;
  mail: MailConfig;
}

const GROUPS = ['lower', 'upper', 'digit', 'symbol'] as const;

/** A boolean that defaults to true: unset keeps the protection on. */
function onByDefault(env: Env, name: string, problems: string[]): boolean {
  return env[name] === undefined || env[name] === '' ? true : boolVar(env, name, problems);
}

function customRules(env: Env, problems: string[]): CustomRule[] {
  const raw = env.PASSWORD_CUSTOM_RULES;
  if (raw === undefined || raw === '') return [];
  try {
    const v = JSON.parse(raw) as unknown;
    if (Array.isArray(v) && v.every((r) => r && typeof r === 'object' && Object.keys(r).every((k) => ['pattern', 'flags', 'message'].includes(k)))) {
      return v as CustomRule[];
    }
  } catch { /* reported below */ }
  problems.push('PASSWORD_CUSTOM_RULES must be a JSON array of {"pattern", "message", "flags"?} objects');
  return [];
}

/** The password policy, reset and mail variables (AUTH-7, AUTH-8); problems are added to the list. */
export function passwordEnv(env: Env, problems: string[], warnings: string[], listen: { host: string; port: number }): PasswordConfig {
  const d = PASSWORD_POLICY_DEFAULTS;
  const require = (env.PASSWORD_REQUIRE ?? '').split(',').map((x) => x.trim().toLowerCase()).filter(Boolean);
  for (const g of require) if (!(GROUPS as readonly string[]).includes(g)) problems.push(`PASSWORD_REQUIRE: "${g.slice(0, 20)}" is not one of ${GROUPS.join(', ')}`);
  const passwordPolicy: PasswordPolicy = {
    minLength: intVar(env, 'PASSWORD_MIN_LENGTH', d.minLength, 8, 256, problems),
    maxLength: intVar(env, 'PASSWORD_MAX_LENGTH', d.maxLength, 64, 1024, problems),
    requireLowercase: require.includes('lower'),
    requireUppercase: require.includes('upper'),
    requireDigit: require.includes('digit'),
    requireSymbol: require.includes('symbol'),
    symbols: env.PASSWORD_SYMBOLS || d.symbols,
    forbidUserInfo: onByDefault(env, 'PASSWORD_FORBID_USER_INFO', problems),
    history: intVar(env, 'PASSWORD_HISTORY', d.history, 0, 24, problems),
    blocklist: onByDefault(env, 'PASSWORD_BLOCKLIST', problems),
    contextWords: (env.PASSWORD_CONTEXT_WORDS ?? '').split(',').map((x) => x.trim()).filter(Boolean),
    customRules: customRules(env, problems),
    validity: durationVar(env, 'PASSWORD_VALIDITY', d.validity, 0, problems),
    reminder: durationVar(env, 'PASSWORD_REMINDER', d.reminder, 0, problems),
  };
  problems.push(...checkPasswordPolicy(passwordPolicy).map((p) => `password policy: ${p}`));
  if (!passwordPolicy.blocklist) warnings.push('PASSWORD_BLOCKLIST=false: common and breached passwords are accepted');

  const r = PASSWORD_RESET_DEFAULTS;
  const passwordReset: PasswordResetSettings = {
    resetLinkValidity: durationVar(env, 'RESET_LINK_VALIDITY', r.resetLinkValidity, 60, problems),
    adminResetLinkValidity: durationVar(env, 'ADMIN_RESET_LINK_VALIDITY', r.adminResetLinkValidity, 60, problems),
    invitationValidity: durationVar(env, 'INVITATION_LINK_VALIDITY', r.invitationValidity, 60, problems),
    adminMaySetPasswords: onByDefault(env, 'ADMIN_MAY_SET_PASSWORDS', problems),
    forgotPerAccount: intVar(env, 'FORGOT_PER_ACCOUNT', r.forgotPerAccount, 1, 100, problems),
    forgotPerIp: intVar(env, 'FORGOT_PER_IP', r.forgotPerIp, 1, 100_000, problems),
  };
  problems.push(...checkPasswordReset(passwordReset).map((p) => `password reset: ${p}`));

  const smtpUrl = secretVar(env, 'SMTP_URL', problems).value ?? null;
  if (smtpUrl !== null && !/^smtps?:\/\/[^\s]+$/.test(smtpUrl)) problems.push('SMTP_URL must be an smtp:// or smtps:// URL');
  const from = env.MAIL_FROM || 'Palisade <palisade@localhost>';
  if (!parseSender(from)) problems.push('MAIL_FROM must be one address, alone or after a plain display name: "palisade@example.org" or "Palisade <palisade@example.org>"');
  if (smtpUrl !== null && !env.MAIL_FROM) problems.push('MAIL_FROM is required with SMTP_URL');
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  let publicUrl = `http://${host}:${listen.port}`;
  if (env.PUBLIC_URL) {
    let u: URL | null = null;
    try { u = new URL(env.PUBLIC_URL); } catch { /* reported below */ }
    if (!u || !['http:', 'https:'].includes(u.protocol) || u.search || u.hash || u.username || u.password) {
      problems.push('PUBLIC_URL must be an http:// or https:// URL without credentials, query or fragment');
    } else {
      publicUrl = u.href.replace(/\/+$/, '');
    }
  } else if (smtpUrl !== null) {
    warnings.push(`PUBLIC_URL is not set: links in mails point to ${publicUrl}`);
  }
  return { passwordPolicy, passwordReset, mail: { smtpUrl, from, publicUrl } };
}
