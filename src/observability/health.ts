// GET /healthz for container orchestrators: 200 while the worker is RUNNING, 503 otherwise.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SettingUnusableError } from './errors';

/** What /healthz answers, as JSON. */
export interface HealthReport {
  status: 'ok' | 'unavailable';
  /** The Temporal worker's state (INITIALIZED, RUNNING, STOPPING, DRAINING, DRAINED, STOPPED, FAILED), or STARTING before it exists. */
  workerState: string;
  taskQueue: string;
  uptimeSeconds: number;
}

/** A listening health server. */
export interface HealthServer {
  /** The port it listens on (the real one when WORKER_HEALTH_ADDRESS asked for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Splits "host:port" (the WORKER_*_ADDRESS form) into its parts. */
export function parseHostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`"${address}" is not host:port (example: 0.0.0.0:8081)`);
  return { host: address.slice(0, at), port };
}

/** Serves /healthz at `address`; `state` is asked on every request (Worker.getState in production, any function in tests). */
export async function startHealthServer(options: { address: string; taskQueue: string; state: () => string; startedAt?: number }): Promise<HealthServer> {
  const { host, port } = parseHostPort(options.address);
  const startedAt = options.startedAt ?? Date.now();
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz') return send(res, 404, { error: 'not found; the health check is GET /healthz' });
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'use GET' });
    const workerState = options.state();
    const report: HealthReport = {
      status: workerState === 'RUNNING' ? 'ok' : 'unavailable',
      workerState,
      taskQueue: options.taskQueue,
      uptimeSeconds: Math.floor((Date.now() - startedAt) / 1000),
    };
    send(res, report.status === 'ok' ? 200 : 503, report);
  });
  // A probe that hangs must not keep the worker from exiting.
  server.requestTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new SettingUnusableError('WORKER_HEALTH_ADDRESS', `WORKER_HEALTH_ADDRESS=${options.address}: cannot serve the health check there (${err.code ?? err.message}); pick a free port or unset WORKER_HEALTH_ADDRESS`, {
          cause: err,
        }),
      ),
    );
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
