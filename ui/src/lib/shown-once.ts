/**
 * What a secret shown this once needs (a new API key, recovery codes): to come into view with the focus on
 * it, and a copy button that says in words whether the copy worked.
 */

/** A Svelte action: scroll the panel into view and move the focus to it (it needs tabindex="-1"). */
export function reveal(node: HTMLElement): void {
  node.scrollIntoView({ block: 'start' });
  node.focus();
}

/** Copies text to the clipboard; the sentence to show afterwards (`byHand` says what to do when the browser refuses). */
export async function copyText(text: string, byHand: string): Promise<string> {
  try {
    await navigator.clipboard.writeText(text);
    return 'Copied to the clipboard.';
  } catch {
    return `Copying was refused by the browser: ${byHand}.`;
  }
}
