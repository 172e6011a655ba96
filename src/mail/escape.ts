const HTML: Readonly<Record<string, string>> = Object.freeze({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' });

/** Escapes a value for HTML text and attribute context. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => HTML[c]!);
}

/** A value for a plain-text mail: control characters (line breaks included) become spaces. */
export function plain(value: string): string {
  return value.replace(/\p{Cc}/gu, ' ');
}
