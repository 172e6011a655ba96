/** Requests held at most, in all and per budget subject (an address or a user). */
export const HOLD_MAX = 1000;
export const HOLD_MAX_PER_SUBJECT = 64;

/** What ends a hold early: the client's connection closing (a Node socket, or anything that emits `close`). */
export interface Closable {
  once(type: 'close', listener: () => void): unknown;
  off(type: 'close', listener: () => void): unknown;
}

/**
 * Holds the answer to a request past its budget (EDGE-4, D451): a client that floods waits for each refusal before
 * its connection can carry the next request, so a flood over a few connections becomes a trickle, and the server
 * spends its time on the clients within their budgets. Held requests are bounded in all and per subject; past a
 * bound the refusal is answered at once and its connection closed, so that a client opening ever more connections
 * pays a new connection for each further request. A hold ends early when its client's connection closes (the slot
 * is free again at once) and when the server closes (`releaseAll`). Timers are real time, whatever the service
 * clock says.
 */
export class RefusalDelay {
  private held = 0;
  private closing = false;
  private readonly bySubject = new Map<string, number>();
  private readonly waking = new Set<() => void>();

  /**
   * Waits `ms` before the refusal is answered. True: the connection may stay open; false: answer with it closed (a
   * bound was reached, or the server is closing).
   */
  async hold(subject: string, ms: number, until?: Closable): Promise<boolean> {
    if (ms <= 0) return true;
    const mine = this.bySubject.get(subject) ?? 0;
    if (this.closing || this.held >= HOLD_MAX || mine >= HOLD_MAX_PER_SUBJECT) return false;
    this.held += 1;
    this.bySubject.set(subject, mine + 1);
    try {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.waking.delete(wake);
          until?.off('close', wake);
          resolve();
        };
        const timer = setTimeout(wake, ms);
        this.waking.add(wake);
        until?.once('close', wake);
      });
    } finally {
      this.held -= 1;
      const left = (this.bySubject.get(subject) ?? 1) - 1;
      if (left > 0) this.bySubject.set(subject, left);
      else this.bySubject.delete(subject);
    }
    return !this.closing;
  }

  /** The server is closing: every held refusal is answered now, and none is held from here on. */
  releaseAll(): void {
    this.closing = true;
    for (const wake of [...this.waking]) wake();
  }

  /** Requests held now (metrics, tests). */
  get holding(): number {
    return this.held;
  }
}
