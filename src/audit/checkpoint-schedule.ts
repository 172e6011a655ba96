import { appendFile } from 'node:fs/promises';
import type { Checkpoint } from './verify.js';
import { SYSTEM_ACTOR } from './events.js';
import type { AuditService } from './service.js';

/**
 * Signs the chain's head every `intervalMs` when it has moved, appends each checkpoint to `file` when
 * given (a file kept away from the database host), and hands it to `onCheckpoint` (the system log,
 * which forwards it to a SIEM). Returns the stop function. Two instances may both sign: each
 * checkpoint is valid on its own.
 */
export function scheduleCheckpoints(
  audit: AuditService,
  opts: { intervalMs: number; file: string | null; onCheckpoint: (c: Checkpoint) => void; onError: (err: unknown) => void },
): () => void {
  if (opts.intervalMs <= 0) return () => undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        const c = await audit.checkpointIfMoved({ actor: SYSTEM_ACTOR });
        if (!c) return;
        if (opts.file) await appendFile(opts.file, `${JSON.stringify(c)}\n`, { mode: 0o600 });
        opts.onCheckpoint(c);
      } catch (e) {
        opts.onError(e);
      } finally {
        running = false;
      }
    })();
  }, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
