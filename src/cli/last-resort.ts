import type { Logger } from 'pino';
import { errorSummary } from '../background.js';
import { stackFrames } from '../http/request-log.js';

/**
 * The last-resort handlers of `palisade start` (ASVS V16.5.4): an error that no request handler or
 * background task caught is logged as `system.error`, like theirs (summary and code locations, never
 * the error's other properties). A rejected promise nobody awaited does not stop the server: the
 * work it belonged to is lost, the process state is not. An uncaught exception may have left any
 * state half-changed, so the server stops as on SIGTERM (drain, `system.stop`) and exits 1 for its
 * supervisor to restart it.
 */
export function installLastResort(proc: NodeJS.Process, logger: Logger, stop: (exitCode: number) => Promise<void>): void {
  proc.on('unhandledRejection', (reason) => {
    // A reason that is no Error is named by its kind only (its value may be anything, a secret included).
    logger.error(
      { event: 'system.error', task: 'unhandled rejection', kind: typeof reason, err: errorSummary(reason), frames: stackFrames(reason) },
      'unhandled promise rejection',
    );
  });
  let stopping = false;
  proc.on('uncaughtException', (err) => {
    logger.fatal({ event: 'system.error', task: 'uncaught exception', err: errorSummary(err), frames: stackFrames(err) }, 'uncaught exception: stopping');
    if (stopping) return;
    stopping = true;
    // Whatever the drain does, the process ends as a failure.
    proc.exitCode = 1;
    // The drain may hang on the broken state: the exit comes in 10 s at the latest.
    setTimeout(() => proc.exit(1), 10_000).unref();
    stop(1).catch(() => proc.exit(1));
  });
}
