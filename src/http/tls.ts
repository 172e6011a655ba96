import { unwatchFile, watchFile } from 'node:fs';
import type { Server } from 'node:https';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { readTlsFiles, TLS_OPTIONS, type TlsFiles } from '../edge/https-env.js';

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Built-in TLS: reads the certificate and key files again and serves new connections with them;
     * open connections keep theirs. False (and the old pair kept) when the new files do not make a
     * TLS context. Absent without built-in TLS.
     */
    reloadTls?: () => boolean;
  }
}

/**
 * Fastify's `https` option for the files, with the protocol floor and cipher list of TLS_OPTIONS. With a device CA
 * (D445) the handshake asks for a client certificate without requiring one: the pipeline decides per route.
 */
export function httpsOptions(files: TlsFiles, deviceCa: string | null = null): typeof TLS_OPTIONS & { cert: string; key: string } {
  const pem = readTlsFiles(files);
  if ('problem' in pem) throw new Error(pem.problem);
  return { ...TLS_OPTIONS, ...pem, ...deviceOptions(deviceCa) };
}

function deviceOptions(deviceCa: string | null): { requestCert?: true; rejectUnauthorized?: false; ca?: string } {
  return deviceCa === null ? {} : { requestCert: true, rejectUnauthorized: false, ca: deviceCa };
}

/** How often the files' metadata is polled (a renewal that replaces them by rename is seen too). */
const POLL_MS = 1000;

/**
 * Reloads the certificate when either file changes (polled, so a rename over it counts), and gives the
 * app `reloadTls` for SIGHUP. Changes within half a second are taken together: a renewal writes both.
 */
export function watchTls(app: FastifyInstance, files: TlsFiles, log: FastifyBaseLogger, deviceCa: string | null = null): void {
  const reload = (): boolean => {
    const pem = readTlsFiles(files);
    if ('problem' in pem) {
      log.warn({ event: 'tls.reload_failed', reason: pem.problem }, 'TLS certificate not reloaded; the previous one stays');
      return false;
    }
    (app.server as unknown as Server).setSecureContext({ ...TLS_OPTIONS, ...pem, ...(deviceCa === null ? {} : { ca: deviceCa }) });
    log.info({ event: 'tls.reloaded' }, 'TLS certificate reloaded');
    return true;
  };
  app.reloadTls = reload;
  let timer: NodeJS.Timeout | null = null;
  const changed = (now: { mtimeMs: number; ino: number }, before: { mtimeMs: number; ino: number }) => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      reload();
    }, 500);
    timer.unref();
  };
  for (const f of [files.certFile, files.keyFile]) watchFile(f, { interval: POLL_MS, persistent: false }, changed);
  app.addHook('onClose', async () => {
    if (timer) clearTimeout(timer);
    for (const f of [files.certFile, files.keyFile]) unwatchFile(f, changed);
  });
}
