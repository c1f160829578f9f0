// The worker's /healthz and the probe Docker and compose run against it. The state comes from a
// function (Worker.getState in production); a worker connected to a real Temporal server, going
// RUNNING → STOPPING → DRAINING on SIGTERM, cannot run here. The probe runs in-process through
// runHealthcheck, the code `node dist/src/healthcheck.js` runs before process.exit.
import net from 'node:net';
import { captured } from './helpers';
import { afterEach, describe, expect, it } from 'vitest';
import { runHealthcheck } from '../src/healthcheck';
import { SettingUnusableError } from '../src/observability/errors';
import { startHealthServer, type HealthServer } from '../src/observability/health';
import { freePort } from '../src/ports';

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function healthServer(state: () => string): Promise<HealthServer> {
  const server = await startHealthServer({ address: '127.0.0.1:0', taskQueue: 'family-brain-backup', state, startedAt: Date.now() - 90_000 });
  servers.push(server);
  return server;
}

async function probe(env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const code = await runHealthcheck({ env, stdout: io.stdout, stderr: io.stderr, ...(timeoutMs === undefined ? {} : { timeoutMs }) });
  return { code, ...io.text() };
}

describe('GET /healthz', () => {
  it('answers 200 with the state, task queue and uptime while the worker is RUNNING, and 503 once it stops', async () => {
    let state = 'RUNNING';
    const { port } = await healthServer(() => state);
    const running = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(running.status).toBe(200);
    expect(running.headers.get('content-type')).toBe('application/json');
    const uptime = expect.toSatisfy((s: number) => Number.isInteger(s) && s >= 90);
    expect(await running.json()).toEqual({ status: 'ok', workerState: 'RUNNING', taskQueue: 'family-brain-backup', uptimeSeconds: uptime });
    for (state of ['STARTING', 'INITIALIZED', 'STOPPING', 'DRAINING', 'DRAINED', 'STOPPED', 'FAILED']) {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect([state, response.status, await response.json()]).toEqual([state, 503, { status: 'unavailable', workerState: state, taskQueue: 'family-brain-backup', uptimeSeconds: uptime }]);
    }
  });

  it('answers 404 elsewhere and 405 to other methods', async () => {
    const { port } = await healthServer(() => 'RUNNING');
    expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('fails by name when its port is taken', async () => {
    const first = await healthServer(() => 'RUNNING');
    const err = await startHealthServer({ address: `127.0.0.1:${first.port}`, taskQueue: 'q', state: () => 'RUNNING' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SettingUnusableError);
    expect((err as Error).message).toBe(`WORKER_HEALTH_ADDRESS=127.0.0.1:${first.port}: cannot serve the health check there (EADDRINUSE); pick a free port or unset WORKER_HEALTH_ADDRESS`);
  });
});

describe('node dist/src/healthcheck.js', () => {
  it('exits 0 with one line while the worker is RUNNING, and 1 with the state once it is not', async () => {
    let state = 'RUNNING';
    const { port } = await healthServer(() => state);
    // The worker listens on every interface in a container; the probe asks loopback.
    const env = { WORKER_HEALTH_ADDRESS: `0.0.0.0:${port}` };
    expect(await probe(env)).toEqual({ code: 0, stdout: expect.stringMatching(/^healthy: worker RUNNING on task queue family-brain-backup, up 9\d s\n$/), stderr: '' });
    state = 'DRAINING';
    expect(await probe(env)).toEqual({ code: 1, stdout: '', stderr: `unhealthy: worker is DRAINING, not RUNNING (HTTP 503 from http://127.0.0.1:${port}/healthz)\n` });
  });

  it('exits 1 when nothing listens there', async () => {
    const port = await freePort();
    expect(await probe({ WORKER_HEALTH_ADDRESS: `0.0.0.0:${port}` })).toEqual({
      code: 1,
      stdout: '',
      stderr: `unhealthy: nothing listens at http://127.0.0.1:${port}/healthz (ECONNREFUSED): the worker is not running, or not with WORKER_HEALTH_ADDRESS=0.0.0.0:${port}\n`,
    });
  });

  it('exits 1 when the endpoint does not answer in time', async () => {
    // Accepts the connection and never answers, like a worker whose event loop is stuck.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    servers.push({ close: () => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), silent.close(() => resolve()))) });
    const { port } = silent.address() as net.AddressInfo;
    expect(await probe({ WORKER_HEALTH_ADDRESS: `127.0.0.1:${port}` }, 300)).toEqual({ code: 1, stdout: '', stderr: `unhealthy: no answer from http://127.0.0.1:${port}/healthz within 0.3 s\n` });
  });

  it('exits 1 when WORKER_HEALTH_ADDRESS is not set, saying how to set it', async () => {
    expect(await probe({})).toEqual({
      code: 1,
      stdout: '',
      stderr: 'unhealthy: WORKER_HEALTH_ADDRESS is not set, so the worker serves no health check; set it (example: WORKER_HEALTH_ADDRESS=0.0.0.0:8081) for the worker and this probe\n',
    });
  });
});
