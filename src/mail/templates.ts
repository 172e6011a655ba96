import { escapeHtml, plain } from './escape.js';
import type { MailMessage } from './index.js';

export type LinkKind = 'reset' | 'admin_reset' | 'invitation';

interface Body {
  subject: string;
  /** Paragraphs before the link; values are filled in and escaped by `render`. */
  intro: string[];
  action: string;
  outro: string[];
}

const BODIES: Readonly<Record<LinkKind | 'reminder', Body>> = Object.freeze({
  reset: {
    subject: 'Reset your Palisade password',
    intro: ['Hello {username},', 'Someone, hopefully you, asked to reset the password of your Palisade account.'],
    action: 'Choose a new password',
    outro: ['The link works once and expires at {expiresAt}. If you did not ask for it, ignore this mail: your password stays as it is.'],
  },
  admin_reset: {
    subject: 'Your Palisade password was reset by an administrator',
    intro: ['Hello {username},', 'An administrator asked for your Palisade password to be reset.'],
    action: 'Choose a new password',
    outro: ['The link works once and expires at {expiresAt}.'],
  },
  invitation: {
    subject: 'You are invited to Palisade',
    intro: ['Hello {username},', 'An account was created for you on Palisade. Choose your password to start.'],
    action: 'Set your password',
    outro: ['The link works once and expires at {expiresAt}.'],
  },
  reminder: {
    subject: 'Your Palisade password expires soon',
    intro: ['Hello {username},', 'Your Palisade password expires at {expiresAt}. After that you must change it before you can sign in.'],
    action: 'Change it now',
    outro: ['Sign in and change your password before then.'],
  },
});

function fill(template: string, values: Record<string, string>, encode: (s: string) => string): string {
  return template.replace(/\{(\w+)\}/g, (_, k: string) => encode(values[k] ?? ''));
}

/**
 * Text and HTML versions of a mail. Every value (username, link, date) is escaped for HTML and
 * stripped of control characters for text, so a username cannot inject markup or headers.
 */
export function render(kind: LinkKind | 'reminder', to: string, v: { username: string; link: string; expiresAt: number }): MailMessage {
  const b = BODIES[kind];
  const values = { username: v.username, expiresAt: new Date(v.expiresAt).toUTCString(), link: v.link };
  const text = `${[
    ...b.intro.map((p) => fill(p, values, plain)),
    `${b.action}: ${plain(v.link)}`,
    ...b.outro.map((p) => fill(p, values, plain)),
    '-- Palisade',
  ].join('\n\n')}\n`;
  const html = [
    '<!doctype html><html><body>',
    ...b.intro.map((p) => `<p>${fill(p, values, escapeHtml)}</p>`),
    `<p><a href="${escapeHtml(v.link)}">${escapeHtml(b.action)}</a></p>`,
    ...b.outro.map((p) => `<p>${fill(p, values, escapeHtml)}</p>`),
    '<p>-- Palisade</p>',
    '</body></html>',
  ].join('\n');
  return { to, subject: b.subject, text, html };
}

export type CodeKind = 'signin' | 'enable';

const CODE_BODIES: Readonly<Record<CodeKind, { subject: string; intro: string; outro: string }>> = Object.freeze({
  signin: {
    subject: 'Your Palisade sign-in code',
    intro: 'Someone, hopefully you, signed in to your Palisade account with your password. To finish signing in, enter this code:',
    outro: 'It works once and expires at {expiresAt}. If this was not you, change your password now: someone knows it.',
  },
  enable: {
    subject: 'Confirm your Palisade email codes',
    intro: 'To receive sign-in codes at this address, enter this code in Palisade:',
    outro: 'It works once and expires at {expiresAt}. If you did not ask for it, ignore this mail.',
  },
});

/** A one-time code mail (second factor, AUTH-12); values escaped like `render`. */
export function renderCode(kind: CodeKind, to: string, v: { username: string; code: string; expiresAt: number }): MailMessage {
  const b = CODE_BODIES[kind];
  const values = { username: v.username, expiresAt: new Date(v.expiresAt).toUTCString() };
  const text = `${[`Hello ${plain(v.username)},`, b.intro, `    ${plain(v.code)}`, fill(b.outro, values, plain), '-- Palisade'].join('\n\n')}\n`;
  const html = [
    '<!doctype html><html><body>',
    `<p>Hello ${escapeHtml(v.username)},</p>`,
    `<p>${escapeHtml(b.intro)}</p>`,
    `<p style="font-size:1.5em;letter-spacing:0.2em"><strong>${escapeHtml(v.code)}</strong></p>`,
    `<p>${fill(b.outro, values, escapeHtml)}</p>`,
    '<p>-- Palisade</p>',
    '</body></html>',
  ].join('\n');
  return { to, subject: b.subject, text, html };
}

/**
 * The notice to an account's old email address that the address changed (ASVS V7.5.1): no link, and not the new
 * address (the old mailbox may no longer be the user's); values escaped like `render`.
 */
export function renderEmailChanged(to: string, v: { username: string; by: 'self' | 'administrator'; removed: boolean; at: number }): MailMessage {
  const what = v.removed ? 'was removed from' : 'was changed on';
  const who = v.by === 'self' ? 'with its password' : 'by an administrator';
  const lines = [
    `Hello ${v.username},`,
    `The email address of your Palisade account ${what} ${new Date(v.at).toUTCString()}, ${who}. Mail about the account (password links, sign-in codes) no longer comes to this address.`,
    'If this was not you, tell your administrator at once: someone may have taken over your account.',
  ];
  const text = `${[...lines.map(plain), '-- Palisade'].join('\n\n')}\n`;
  const html = ['<!doctype html><html><body>', ...lines.map((l) => `<p>${escapeHtml(l)}</p>`), '<p>-- Palisade</p>', '</body></html>'].join('\n');
  return { to, subject: 'The email address of your Palisade account changed', text, html };
}

/** When and from where an account notice's event happened; null when not known (a change made through the CLI). */
export interface NoticeFacts {
  at: number;
  ip: string | null;
  /** The client's family ("Firefox on Linux"), never the raw user agent. */
  client: string | null;
}

/**
 * A notice about the account (ASVS V6.3.5, V6.3.7; texts in src/auth/notices/): what happened, when, from which
 * address and client, what to do if it was not the reader. No link of any kind, nothing secret; values escaped like
 * `render`.
 */
export function renderNotice(to: string, v: { username: string; subject: string; what: readonly string[]; advice: string; facts: NoticeFacts }): MailMessage {
  const facts = [
    `When: ${new Date(v.facts.at).toUTCString()}`,
    ...(v.facts.ip ? [`From the address: ${v.facts.ip}`] : []),
    ...(v.facts.client ? [`With: ${v.facts.client}`] : []),
  ];
  const text = `${[`Hello ${plain(v.username)},`, ...v.what.map(plain), facts.map(plain).join('\n'), plain(v.advice), '-- Palisade'].join('\n\n')}\n`;
  const html = [
    '<!doctype html><html><body>',
    `<p>Hello ${escapeHtml(v.username)},</p>`,
    ...v.what.map((p) => `<p>${escapeHtml(p)}</p>`),
    `<p>${facts.map(escapeHtml).join('<br>')}</p>`,
    `<p>${escapeHtml(v.advice)}</p>`,
    '<p>-- Palisade</p>',
    '</body></html>',
  ].join('\n');
  return { to, subject: plain(v.subject), text, html };
}
