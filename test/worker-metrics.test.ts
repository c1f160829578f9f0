// The worker's Temporal runtime: Prometheus metrics and forwarded logs. A runtime is installed once
// per process, so this file has its own (vitest runs each file in its own process). The exporter
// starts without a server connection; the worker and connection metrics the SDK records while
// polling a real Temporal server (temporal_worker_task_slots_available, request latencies, …)
// cannot appear here, so a counter made through the runtime's own meter stands in for them.
import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { SettingUnusableError } from '../src/observability/errors';
import { createLogger } from '../src/observability/logger';
import { installRuntime } from '../src/observability/runtime';
import { freePort } from '../src/ports';

const worker = { shutdownGraceMs: 1_000, healthAddress: undefined, logFormat: 'json' as const };

describe('WORKER_METRICS_ADDRESS', () => {
  it('fails by name when the metrics port is taken, and a runtime can still be installed after', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(taken.address() as net.AddressInfo).port}`;
    try {
      let err: unknown;
      try {
        installRuntime({ logLevel: 'info', worker: { ...worker, metricsAddress: address } }, createLogger({ format: 'json', level: 'info', write: () => undefined }));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SettingUnusableError);
      expect((err as Error).message).toMatch(new RegExp(`^WORKER_METRICS_ADDRESS=${address}: cannot serve Prometheus metrics there \\(.*Address already in use.*\\); pick a free port or unset WORKER_METRICS_ADDRESS$`));
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('serves the runtime metrics at /metrics in Prometheus text format, and the runtime logs through our JSON logger', async () => {
    const port = await freePort();
    const lines: string[] = [];
    const runtime = installRuntime(
      { logLevel: 'info', worker: { ...worker, metricsAddress: `127.0.0.1:${port}` } },
      createLogger({ format: 'json', level: 'info', write: (line) => lines.push(line) }),
    );
    runtime.metricMeter.createCounter('fbb_test_backups', 'backups', 'stand-in for the SDK worker metrics').add(3);
    const response = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    expect(text).toContain('# TYPE fbb_test_backups counter');
    expect(text).toMatch(/^fbb_test_backups(\{[^}]*\})? 3$/m);

    // Core logs are forwarded to the runtime logger, which buffers them for ~100 ms to sort them.
    runtime.logger.info('worker starting', { taskQueue: 'family-brain-backup' });
    await vi.waitFor(() => expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toContainEqual(expect.objectContaining({ level: 'info', message: 'worker starting', taskQueue: 'family-brain-backup' })));
    await runtime.shutdown();
  });
});
