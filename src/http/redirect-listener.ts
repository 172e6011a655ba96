import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { clientErrorHandler } from './framework-errors.js';

/**
 * The plain-HTTP port beside built-in TLS (HTTP_REDIRECT_PORT, EDGE-5): a browser that types the bare host name
 * lands here. Its requests go through the app's own handler, so the whole pipeline applies: the edge stage sees a
 * plain socket and redirects every request to PUBLIC_URL (301, or 308 for unsafe methods, path and query kept), and
 * only the health probes are answered. Nothing else is served over it: the configuration refuses the port without
 * forced HTTPS.
 */
export async function listenRedirect(app: FastifyInstance, host: string, port: number): Promise<Server> {
  // The HTTPS server's bounds for a slow or idle client here too, given to the constructor (Node 20 does not apply a
  // requestTimeout set afterwards, D281).
  const { requestTimeout, headersTimeout } = app.server;
  const server = createServer({ requestTimeout, headersTimeout, connectionsCheckingInterval: Math.min(30_000, requestTimeout / 4) }, (req, res) =>
    app.routing(req, res),
  );
  server.keepAliveTimeout = app.server.keepAliveTimeout;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => clientErrorHandler.call(app, err, socket as Socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Stops the port: no new connection, idle ones closed, requests in flight finish. */
export function closeRedirect(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
