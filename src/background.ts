/**
 * Work that must not hold up an answer (mail, the forgot-password lookup), tracked so that shutdown
 * and tests can wait for it. A failure is reported through `onError`, never thrown at a caller.
 */
export class BackgroundTasks {
  private readonly pending = new Set<Promise<void>>();

  /** @param onError reports a task's failure (the process logger, with errorSummary). */
  constructor(private readonly onError: (task: string, err: unknown) => void) {}

  run(task: string, fn: () => Promise<void>): void {
    const p = (async () => {
      try {
        await fn();
      } catch (e) {
        this.onError(task, e);
      }
    })();
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Resolves when every task started so far, and any they started, has finished. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

/** What may be logged of an error: its class, code and message; never a mail body or a token. */
export function errorSummary(err: unknown): { name?: string; code?: string; message?: string } {
  const e = err as { name?: unknown; code?: unknown; message?: unknown };
  return {
    name: typeof e?.name === 'string' ? e.name : undefined,
    code: typeof e?.code === 'string' ? e.code : undefined,
    message: typeof e?.message === 'string' ? e.message.slice(0, 300) : undefined,
  };
}
