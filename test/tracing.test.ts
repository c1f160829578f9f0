// Tracing on the real dev server: `fbb backup` (in this process, with OTEL_EXPORTER_OTLP_ENDPOINT
// set) on the production worker options, every span captured by an in-memory exporter.
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { startTracing } from '../src/observability/tracing';
import { runBoth, workerOptions } from '../src/worker';
import { restoreDatabase, statusQuery } from '../src/workflows';
import { eventually } from './eventually';
import { captured, createDatabase, dropDatabase, testConfig, userEnvFor } from './helpers';
import { onTemporal, quietRuntime, temporalInfo, testClient } from './temporal';

const exporter = new InMemorySpanExporter();
let database: string;
let config: Config;
let stopWorker: () => Promise<void>;
let backupFile: string;

beforeAll(async () => {
  quietRuntime();
  startTracing({ exporter, batch: false });
  database = await createDatabase('trace');
  config = { ...onTemporal(testConfig({ database, s3: true })), tracing: { endpoint: 'http://127.0.0.1:9' } };
  const connection = await NativeConnection.connect({ address: temporalInfo.address });
  // Unversioned here: the run's trace, not its routing, is under test (test/versioning.test.ts has that).
  config = { ...config, worker: { ...config.worker, versioning: { enabled: false, deploymentName: 'family-brain-backup', buildId: undefined, setCurrent: undefined } } };
  const options = await workerOptions(config, connection, temporalInfo.namespace);
  const { workflowBundle: _bundledHere, interceptors: _modules, ...shared } = options.shared;
  // The bundle globalSetup built from src/ (with src/workflows/interceptors.ts), as dist/workflow-bundle.js is built.
  const workers = [await Worker.create({ ...shared, workflowBundle: { codePath: temporalInfo.workflowBundle }, ...(options.shared.interceptors?.activity ? { interceptors: { activity: options.shared.interceptors.activity } } : {}) }), await Worker.create(options.own)];
  const running = runBoth(workers[0]!, workers[1]!);
  stopWorker = async () => {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await running.catch(() => undefined);
    await connection.close();
  };
});

afterAll(async () => {
  await stopWorker?.();
  if (database) await dropDatabase(database);
});

/** The environment of a user of this file's worker, with tracing on. */
const userEnv = () => ({
  ...userEnvFor(config),
  TEMPORAL_ADDRESS: temporalInfo.address,
  TEMPORAL_NAMESPACE: temporalInfo.namespace,
  TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
});

const named = (spans: ReadableSpan[], name: string) => spans.filter((s) => s.name === name);
const parentOf = (spans: ReadableSpan[], span: ReadableSpan) => spans.find((s) => s.spanContext().spanId === span.parentSpanId);

describe('tracing with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  it('makes a backup one trace: fbb backup → StartWorkflow → RunWorkflow → StartActivity → RunActivity, with the database, file and size and no secret', async () => {
    const io = captured();
    const env = userEnv();
    const code = await runCli(['backup', '--upload-to-s3', '--json'], { stdout: io.stdout, stderr: io.stderr, env });
    expect({ code, stderr: io.text().stderr }).toMatchObject({ code: 0 });
    const result = JSON.parse(io.text().stdout) as { filename: string; size_mb: number };
    backupFile = result.filename;

    // The workflow's spans leave the sandbox through the sink after its last task: wait for them.
    const spans = await eventually('the RunWorkflow span', async () => exporter.getFinishedSpans(), (s) => named(s, 'RunWorkflow:backupDatabase').length === 1 && named(s, 'RunWorkflow:databaseLock').length === 1);
    const [root] = named(spans, 'fbb backup');
    expect(root?.parentSpanId).toBeUndefined();
    expect(root?.attributes).toMatchObject({ 'fbb.command': 'backup', 'fbb.database': database });
    const traceId = root!.spanContext().traceId;
    expect(spans.filter((s) => s.spanContext().traceId !== traceId).map((s) => s.name)).toEqual([]);

    const [start] = named(spans, 'StartWorkflow:backupDatabase');
    expect(parentOf(spans, start!)).toBe(root);
    const [run] = named(spans, 'RunWorkflow:backupDatabase');
    expect(parentOf(spans, run!)).toBe(start);
    // The lock workflow is a child of the run, traced as one.
    const [lock] = named(spans, 'RunWorkflow:databaseLock');
    expect(parentOf(spans, parentOf(spans, lock!)!)?.name).toBe('RunWorkflow:backupDatabase');

    const activities = spans.filter((s) => s.name.startsWith('RunActivity:'));
    expect(activities.map((s) => s.name)).toEqual(expect.arrayContaining(['RunActivity:backupSettings', 'RunActivity:dumpDatabase', 'RunActivity:uploadBackup', 'RunActivity:recordBackup']));
    for (const activity of activities) {
      const scheduled = parentOf(spans, activity);
      expect(scheduled?.name, activity.name).toBe(activity.name.replace('RunActivity:', 'StartActivity:'));
      expect(parentOf(spans, scheduled!), activity.name).toBe(run);
      expect(activity.attributes['fbb.database'], activity.name).toBe(database);
    }
    const [dump] = named(spans, 'RunActivity:dumpDatabase');
    expect(dump!.attributes).toMatchObject({ 'fbb.file': result.filename, 'fbb.status': 'verified', 'fbb.size_bytes': expect.any(Number) });
    expect(named(spans, 'RunActivity:uploadBackup')[0]!.attributes).toMatchObject({ 'fbb.file': result.filename });

    // No attribute of any span holds the database password, the S3 secret key or a URL with credentials.
    const secrets = [config.database.password!, inject('s3').secretAccessKey];
    const values = spans.flatMap((s) => Object.values(s.attributes).map((v) => `${s.name}: ${String(v)}`));
    expect(values.length).toBeGreaterThan(activities.length);
    expect(values.filter((v) => secrets.some((secret) => v.includes(secret)) || /:\/\/[^/\s]*:[^/\s]*@/.test(v))).toEqual([]);

    // A traced run's history (trace headers, the interceptors' SDK flags) replays on the same bundle, as a new worker would replay it.
    const workflowId = String(dump!.attributes.temporalWorkflowId);
    const history = await (await testClient()).workflow.getHandle(workflowId).fetchHistory();
    expect(JSON.stringify(history)).toContain('_tracer-data');
    await Worker.runReplayHistory({ workflowBundle: { codePath: temporalInfo.workflowBundle } }, history, workflowId);
  });

  it('makes "fbb restore confirm" a trace of its own whose Update reaches the waiting restore: StartWorkflowUpdate → ValidateUpdate, HandleUpdate', async () => {
    const client = await testClient();
    const id = `trace-restore-${Date.now()}`;
    const handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: id, args: [{ backup_filename: backupFile, create_pre_restore_backup: false }] });
    await eventually('the restore waiting for its confirmation', () => handle.query(statusQuery), (s) => s.phase === 'awaiting_confirmation');
    const io = captured();
    expect(await runCli(['restore', 'confirm', id], { stdout: io.stdout, stderr: io.stderr, env: userEnv() })).toBe(0);
    expect(await handle.result()).toMatchObject({ status: 'success' });

    const spans = await eventually('the HandleUpdate span', async () => exporter.getFinishedSpans(), (s) => named(s, 'HandleUpdate:confirmRestore').length === 1);
    const [root] = named(spans, 'fbb restore confirm');
    expect(root?.parentSpanId).toBeUndefined();
    const [update] = named(spans, 'StartWorkflowUpdate:confirmRestore');
    expect(parentOf(spans, update!)).toBe(root);
    for (const name of ['ValidateUpdate:confirmRestore', 'HandleUpdate:confirmRestore']) expect(parentOf(spans, named(spans, name)[0]!), name).toBe(update);
  });
});
