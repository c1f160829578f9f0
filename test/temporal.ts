// Real Workers and clients on the Temporal dev server test/globalSetup.ts started.
import fs from 'node:fs';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { inject } from 'vitest';
import { createActivities } from '../src/activities';
import type { Config } from '../src/config';
import { ensureCurrentVersion } from '../src/currentVersion';
import { deploymentOptions, workerVersionFor, type WorkerVersion } from '../src/workerVersion';
import { uniqueName } from './helpers';

export const temporalInfo = inject('temporal');

let quieted = false;
/** The SDK's core logs only warnings and errors in tests. */
export function quietRuntime(): void {
  if (quieted) return;
  quieted = true;
  const noop = () => undefined;
  // Failed activities and workflows are what many tests expect; their errors reach the tests' assertions anyway.
  const expected = /^(Activity failed|Workflow failed|Activity function .* failed|Completing activity as failed)/;
  const warnOnly = (level: string) => (message: string, meta?: Record<string, unknown>) => {
    if (!expected.test(message)) process.stderr.write(`[sdk ${level}] ${message}${meta ? ` ${JSON.stringify(meta)}` : ''}\n`);
  };
  Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn: warnOnly('warn'), error: warnOnly('error') } });
}

/** `config` pointed at the test dev server and a task queue of its own. */
export function onTemporal(config: Config, taskQueue = uniqueName('tq')): Config {
  return { ...config, temporal: { ...config.temporal, address: temporalInfo.address, namespace: temporalInfo.namespace, taskQueue } };
}

let clientPromise: Promise<Client> | undefined;
/** One client per test file, connected to the dev server. */
export function testClient(): Promise<Client> {
  clientPromise ??= Connection.connect({ address: temporalInfo.address }).then((connection) => new Client({ connection, namespace: temporalInfo.namespace }));
  return clientPromise;
}

/**
 * The deployment version of every test worker: the deployment `fbb-tests` (not the production name:
 * worker processes from the built CLI poll as versions of that one, with another bundle), the build
 * ID from the bundle globalSetup built. Every test worker of a run is the same version; the first
 * to start makes it current.
 */
let testVersion: WorkerVersion | undefined;
function testWorkerVersion(config: Config): WorkerVersion {
  testVersion ??= workerVersionFor(
    { ...config, worker: { ...config.worker, versioning: { enabled: true, deploymentName: 'fbb-tests', buildId: undefined, setCurrent: 'if_none' } } },
    fs.readFileSync(temporalInfo.workflowBundle),
    'if_none',
  )!;
  return testVersion;
}

/** A real Worker running in this process. */
export interface TestWorker {
  taskQueue: string;
  worker: Worker;
  /** Stops polling and waits for the worker to finish. */
  stop(): Promise<void>;
}

/**
 * Starts a real Worker on `config.temporal.taskQueue` (in `config.temporal.namespace`) with the project's activities for `config`
 * (any of them replaced by `overrides`) and the workflow bundle globalSetup built.
 */
export async function startTestWorker(config: Config, overrides: Record<string, unknown> = {}): Promise<TestWorker> {
  quietRuntime();
  const connection = await NativeConnection.connect({ address: temporalInfo.address });
  const version = testWorkerVersion(config);
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    workflowBundle: { codePath: temporalInfo.workflowBundle },
    activities: { ...createActivities({ config }), ...overrides },
    shutdownGraceTime: '2s',
    // A cancellation reaches an activity only in the answer to a heartbeat, and the SDK sends heartbeats at most every
    // 80% of the heartbeat timeout, capped by this (default 60 s): a cancelled restore would run on for up to a minute.
    maxHeartbeatThrottleInterval: '1 second',
    ...deploymentOptions(version),
  });
  const running = worker.run();
  // Versioned like production: a run goes to the deployment's current version only.
  await ensureCurrentVersion({ service: connection.workflowService, namespace: config.temporal.namespace, worker: version, identity: 'fbb tests' });
  let stopped: Promise<void> | undefined;
  return {
    taskQueue: config.temporal.taskQueue,
    worker,
    stop() {
      stopped ??= (async () => {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
      })();
      return stopped;
    },
  };
}

/** The activities a run scheduled, in order, with the task queue each was sent to and (when it completed) its result. */
export async function scheduled(handle: WorkflowHandle): Promise<{ name: string; queue: string; result: unknown }[]> {
  const events = (await handle.fetchHistory()).events ?? [];
  const results = new Map<string, unknown>();
  for (const e of events) {
    const done = e.activityTaskCompletedEventAttributes;
    const payload = done?.result?.payloads?.[0]?.data;
    if (done && payload && payload.length > 0) results.set(String(done.scheduledEventId), JSON.parse(Buffer.from(payload).toString('utf8')) as unknown);
  }
  return events.flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    return a ? [{ name: a.activityType?.name ?? '', queue: a.taskQueue?.name ?? '', result: results.get(String(e.eventId)) }] : [];
  });
}
