/** Requests held at most, in all and per budget subject (an address or a user). */
export const HOLD_MAX = 1000;
export const HOLD_MAX_PER_SUBJECT = 64;

/**
 * Holds the answer to a request past its budget (EDGE-4, D451): a client that floods waits for each refusal before
 * its connection can carry the next request, so a flood over a few connections becomes a trickle, and the server
 * spends its time on the clients within their budgets. Held requests are bounded in all and per subject; past a
 * bound the refusal is answered at once and its connection closed, so that a client opening ever more connections
 * pays a new connection for each further request. Timers are real time, whatever the service clock says.
 */
export class RefusalDelay {
  private held = 0;
  private readonly bySubject = new Map<string, number>();

  /** Waits `ms` before the refusal is answered; false when a bound was reached and it must be answered at once. */
  async hold(subject: string, ms: number): Promise<boolean> {
    if (ms <= 0) return true;
    const mine = this.bySubject.get(subject) ?? 0;
    if (this.held >= HOLD_MAX || mine >= HOLD_MAX_PER_SUBJECT) return false;
    this.held += 1;
    this.bySubject.set(subject, mine + 1);
    try {
      await new Promise((resolve) => setTimeout(resolve, ms));
    } finally {
      this.held -= 1;
      const left = (this.bySubject.get(subject) ?? 1) - 1;
      if (left > 0) this.bySubject.set(subject, left);
      else this.bySubject.delete(subject);
    }
    return true;
  }

  /** Requests held now (metrics, tests). */
  get holding(): number {
    return this.held;
  }
}
