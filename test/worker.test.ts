// What the production worker prints: the logger fed by the SDK's own activity context
// (MockActivityEnvironment), and a real worker process on the dev server for workflow log lines.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/observability/logger';
import { backupDatabase } from '../src/workflows';
import { startupLog } from '../src/worker';
import { buildWorker, killAllWorkers, startWorker } from './durability';
import { testConfig, uniqueName } from './helpers';
import { onTemporal, testClient } from './temporal';

beforeAll(buildWorker, 600_000);
afterAll(killAllWorkers);

/** A logger like the worker's, writing into an array. */
function capture(format: 'json' | 'text', level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: string[] = [];
  const logger = createLogger({ format, level, write: (line) => lines.push(line) });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('LOG_FORMAT=json', () => {
  it('writes one JSON object per line with time, level, message and the metadata at the top level', () => {
    const { logger, lines, records } = capture('json');
    logger.info('dump finished\nsecond line', { filename: 'family_brain_daily_20260301_020000.sql.gz', bytes: 123n });
    expect(lines).toHaveLength(1);
    expect(lines[0]!.endsWith('\n')).toBe(true);
    expect(lines[0]!.indexOf('\n')).toBe(lines[0]!.length - 1);
    const [record] = records();
    expect(record).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      level: 'info',
      message: 'dump finished\nsecond line',
      filename: 'family_brain_daily_20260301_020000.sql.gz',
      bytes: '123',
    });
    expect(Math.abs(Date.parse(record!.time as string) - Date.now())).toBeLessThan(60_000);
  });

  it('spells out errors with their type and cause, and keeps metadata that would overwrite the line fields', () => {
    const { logger, records } = capture('json');
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const failure = ApplicationFailure.create({ type: 'DatabaseUnreachable', message: 'nothing accepts connections at 127.0.0.1:5432', nonRetryable: false, cause });
    logger.error('backup failed', { error: failure, level: 'from meta' });
    const [record] = records();
    expect(record).toMatchObject({
      level: 'error',
      'meta.level': 'from meta',
      error: {
        name: 'ApplicationFailure',
        type: 'DatabaseUnreachable',
        nonRetryable: false,
        message: 'nothing accepts connections at 127.0.0.1:5432',
        stack: expect.stringContaining('ApplicationFailure'),
        cause: { name: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED' },
      },
    });
  });

  it('never prints values under secret-named keys, bytes or cycles', () => {
    const { logger, lines, records } = capture('json');
    const loop: Record<string, unknown> = { name: 'loop' };
    loop.self = loop;
    logger.warn('odd meta', { password: 'hunter2', nested: { apiKey: 'k-123', Authorization: 'Bearer k-123' }, key: Buffer.from('bytes of a key file, 36 of them long'), loop });
    expect(lines[0]).not.toMatch(/hunter2|k-123|bytes of a key file/);
    expect(records()[0]).toMatchObject({ password: '***', nested: { apiKey: '***', Authorization: '***' }, key: '<36 bytes>', loop: { name: 'loop', self: '[Circular]' } });
  });

  it('drops lines below LOG_LEVEL', () => {
    const { logger, records } = capture('json', 'warn');
    logger.debug('noise');
    logger.info('noise');
    logger.warn('kept');
    expect(records().map((r) => r.message)).toEqual(['kept']);
  });

  it("carries the activity's ids when the SDK logs an activity failure", async () => {
    const { logger, records } = capture('json');
    const activities = createActivities({ config: testConfig() });
    const env = new MockActivityEnvironment(
      {
        activityId: '7',
        activityType: 'dumpDatabase',
        taskQueue: 'family-brain-backup',
        workflowType: 'backupDatabase',
        workflowExecution: { workflowId: 'backup:family_brain:manual:20260301T020000', runId: '11111111-2222-3333-4444-555555555555' },
      },
      { logger },
    );
    const request = { filename: 'not-a-backup.txt', type: 'manual' as const, format: 'plain_gzip' as const, workflowId: 'backup:family_brain:manual:20260301T020000' };
    await expect(env.run(activities.dumpDatabase, request)).rejects.toThrow(/is not a plain_gzip backup file name/);
    const failed = records().find((r) => r.message === 'Activity failed');
    expect(failed).toMatchObject({
      level: 'warn',
      sdkComponent: 'worker',
      activityId: '7',
      activityType: 'dumpDatabase',
      taskQueue: 'family-brain-backup',
      workflowId: 'backup:family_brain:manual:20260301T020000',
      workflowRunId: '11111111-2222-3333-4444-555555555555',
      workflowType: 'backupDatabase',
      attempt: 1,
      error: { name: 'ApplicationFailure', type: 'InvalidBackupInput', nonRetryable: true },
    });
  });

  it("carries the activity's ids on lines the activity logs itself", async () => {
    const { logger, records } = capture('json');
    const env = new MockActivityEnvironment({ activityId: '3', activityType: 'uploadBackup', workflowExecution: { workflowId: 'wf-1', runId: 'run-1' } }, { logger });
    await env.run(async () => Context.current().log.info('uploading', { part: 2 }));
    expect(records().find((r) => r.message === 'uploading')).toMatchObject({ level: 'info', sdkComponent: 'activity', activityId: '3', activityType: 'uploadBackup', workflowId: 'wf-1', part: 2 });
  });

  it("carries the workflow's ids on workflow log lines", async () => {
    // A real worker process hands workflow.log lines to its runtime logger through the SDK's logger sink.
    const config = onTemporal(testConfig());
    const worker = startWorker(config, { LOG_FORMAT: 'json', LOG_LEVEL: 'warn' });
    const client = await testClient();
    const workflowId = uniqueName('backup_log_test');
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId, args: [{ backup_type: 'hourly' }] });
    await expect(handle.result()).rejects.toThrow();
    worker.kill('SIGTERM');
    const { all } = await worker;
    const records = String(all).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.find((r) => r.message === 'Workflow failed')).toMatchObject({
      level: 'warn',
      workflowId,
      runId: handle.firstExecutionRunId,
      workflowType: 'backupDatabase',
      taskQueue: config.temporal.taskQueue,
      // Across the sandbox's sink the failure arrives as a plain Error: its type survives only in the stack's first line.
      error: { message: expect.stringContaining('invalid backup input: "backup_type" must be one of'), stack: expect.stringMatching(/^ApplicationFailure: invalid backup input/) },
    });
  });

  it('redacts the database password and the Temporal API key in the "worker starting" line', () => {
    const env = { DATABASE_URL: 'postgres://backup:db-secret-pw@db:5432/family_brain', TEMPORAL_API_KEY: 'tc-api-key-secret', WORKER_HEALTH_ADDRESS: '0.0.0.0:8081', WORKER_METRICS_ADDRESS: '0.0.0.0:9464' };
    const config = loadConfig(env);
    const { logger, lines, records } = capture('json');
    logger.info(...startupLog(config, 8081));
    expect(lines.join('')).not.toMatch(/db-secret-pw|tc-api-key-secret/);
    expect(records()[0]).toMatchObject({
      level: 'info',
      message: 'worker starting',
      taskQueue: 'family-brain-backup',
      namespace: 'default',
      temporal: 'localhost:7233 (TLS, API key)',
      shutdownGraceSeconds: 300,
      metrics: 'http://0.0.0.0:9464/metrics',
      health: 'port 8081 GET /healthz',
      config: { database: { user: 'backup', password: '***' }, temporal: { apiKey: '***' } },
    });
  });
});

describe('LOG_FORMAT=text', () => {
  it('writes one readable line per entry, secrets redacted too', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://backup:db-secret-pw@db/family_brain', TEMPORAL_API_KEY: 'tc-api-key-secret' });
    const { logger, lines } = capture('text');
    logger.info(...startupLog(config));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}worker starting \{ taskQueue: 'family-brain-backup', namespace: 'default', .*\}\n$/);
    expect(lines[0]).not.toMatch(/db-secret-pw|tc-api-key-secret/);
  });
});
