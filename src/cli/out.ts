/**
 * What the CLI writes to an operator's terminal. Much of it comes from the database, and some of that from outside
 * callers (an API key's name, a lock reason, a name typed at a sign-in and kept in a security event): a control
 * character other than newline and tab is written as a `\u00XX` escape, so that no stored text can move the cursor,
 * rewrite a line already shown, retitle the window or send the terminal a command (terminal escape injection). JSON
 * and YAML output stays valid and means the same: such characters only occur inside their (double-quoted) strings,
 * where `\u00XX` is the character itself.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this escapes
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

export const terminalSafe = (text: string): string => text.replace(CONTROL, escaped);

/** Writes to standard output, control characters escaped. */
export const toStdout = (text: string): boolean => process.stdout.write(terminalSafe(text));

/** Writes to standard error, control characters escaped. */
export const toStderr = (text: string): boolean => process.stderr.write(terminalSafe(text));
