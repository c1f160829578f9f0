// Notifications on the real dev server with real workers: a webhook receiver in this process checks what arrives.
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { createActivities } from '../src/activities';
import { backupDatabase, restoreDatabase } from '../src/workflows';
import { captured, createDatabase, dropDatabase, testConfig, uniqueName, userEnvFor, withAdmin } from './helpers';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';
import { downUrl, historyText, startReceiver, type Receiver } from './webhook';

const DB_PASSWORD = 'db-pass-Zq81xv';

describe('notifications', () => {
  let database: string;
  const receivers: Receiver[] = [];
  const workers: TestWorker[] = [];

  beforeAll(async () => {
    database = await createDatabase('notify');
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(receivers.map((r) => r.stop()));
    await dropDatabase(database);
  });

  /** A worker whose environment has these webhooks. */
  async function workerWith(config: Config, notify: Config['notify']): Promise<Config> {
    const c = onTemporal({ ...config, notify });
    workers.push(await startTestWorker(c));
    return c;
  }
  async function receiver(): Promise<Receiver> {
    const r = await startReceiver(uniqueName('tok').replace(/_/g, 'x'));
    receivers.push(r);
    return r;
  }

  it('a failed backup POSTs what failed, the error, the workflow ID, the file and the next step; neither the password nor the webhook token is in the body or the workflow history', async () => {
    const hook = await receiver();
    // A wrong password for a database that does not exist: the backup cannot connect.
    const config = await workerWith(testConfig({ database: uniqueName('missing'), password: DB_PASSWORD }), { webhookUrls: [hook.url], on: 'failure' });
    const client = await testClient();
    const workflowId = uniqueName('wf-notify-fail');
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId, args: [{ backup_type: 'manual', cleanup_old: false }] });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);

    expect(hook.received).toHaveLength(1);
    const { body, raw, path } = hook.received[0]!;
    expect(path).toContain(hook.token);
    expect(body).toMatchObject({
      kind: 'backup',
      outcome: 'failure',
      status: 'failed',
      workflow_type: 'backupDatabase',
      workflow_id: workflowId,
      database: config.database.database,
      error: { type: 'DatabaseUnreachable' },
      source: 'family-brain-backup',
    });
    expect(body.backup_file).toMatch(/^family_brain_manual_\d{8}_\d{6}\.sql\.gz$/);
    expect(body.error?.message).toContain(config.database.database);
    expect(body.next_step).toContain('fbb doctor');
    expect(body.text).toContain(`backup of ${config.database.database} FAILED (${body.backup_file})`);
    expect(body.text).toContain('DatabaseUnreachable');
    expect(body.text).toContain(workflowId);
    expect(raw).not.toContain(DB_PASSWORD);
    expect(raw).not.toContain(hook.token);

    const history = historyText(await handle.fetchHistory());
    expect(history).toContain('"notify"');
    expect(history).toContain('DatabaseUnreachable');
    expect(history).not.toContain(DB_PASSWORD);
    expect(history).not.toContain(hook.token);
    expect(history).not.toContain(hook.url);
  });

  it('a receiver that is down does not fail the backup: the notification is retried, then dropped, and its failures name the host only', async () => {
    const token = uniqueName('downtok').replace(/_/g, 'x');
    const url = await downUrl(token);
    const config = await workerWith(testConfig({ database }), { webhookUrls: [url], on: 'always' });
    const client = await testClient();
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wf-notify-down'), args: [{ backup_type: 'manual', cleanup_old: false }] });
    const result = await handle.result();
    expect(result.status).toBe('success');
    expect(result.verified?.ok).toBe(true);

    const history = historyText(await handle.fetchHistory());
    // The activity's last failure is in the history: it was tried, it failed, and only the host is named.
    expect(history).toContain('NotificationFailed');
    expect(history).toContain(`not taken by ${new URL(url).host} (ECONNREFUSED)`);
    expect(history).not.toContain(token);
  }, 120_000);

  it('NOTIFY_ON=always notifies a successful backup, to every webhook in NOTIFY_WEBHOOK_URL', async () => {
    const [a, b] = [await receiver(), await receiver()];
    const config = await workerWith(testConfig({ database }), { webhookUrls: [a.url, b.url], on: 'always' });
    const client = await testClient();
    const workflowId = uniqueName('wf-notify-ok');
    const result = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId, args: [{ backup_type: 'manual', cleanup_old: false }] });
    for (const r of [a, b]) {
      expect(r.received).toHaveLength(1);
      expect(r.received[0]!.body).toMatchObject({ kind: 'backup', outcome: 'success', status: 'verified', workflow_id: workflowId, backup_file: result.filename, error: null, next_step: null });
      expect(r.received[0]!.body.text).toContain(`backup of ${database} succeeded (${result.filename})`);
    }
  });

  it('NOTIFY_ON=failure (the default) sends nothing for a successful backup', async () => {
    const hook = await receiver();
    const config = await workerWith(testConfig({ database }), { webhookUrls: [hook.url], on: 'failure' });
    const client = await testClient();
    const result = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wf-notify-quiet'), args: [{ backup_type: 'manual', cleanup_old: false }] });
    expect(result.status).toBe('success');
    expect(hook.received).toHaveLength(0);
  });

  it('a restore that was rolled back is notified as a failure, naming the backup it restored and the error that caused the rollback', async () => {
    const hook = await receiver();
    const db = await createDatabase('notify_rb');
    try {
      const base = onTemporal({ ...testConfig({ database: db }), notify: { webhookUrls: [hook.url], on: 'failure' } });
      const real = createActivities({ config: base });
      // The injected failure: the check of the live database after the swap finds a wrong count.
      const verifyLiveDatabase = async (expected: Record<string, number> | null, extensions: string[]) => ({ ...(await real.verifyLiveDatabase(expected, extensions)), ok: false });
      workers.push(await startTestWorker(base, { verifyLiveDatabase }));
      const client = await testClient();
      const backup = await client.workflow.execute(backupDatabase, { taskQueue: base.temporal.taskQueue, workflowId: uniqueName('wf-rb-backup'), args: [{ backup_type: 'manual', cleanup_old: false }] });
      const workflowId = uniqueName('wf-rb-restore');
      const result = await client.workflow.execute(restoreDatabase, {
        taskQueue: base.temporal.taskQueue,
        workflowId,
        args: [{ backup_filename: backup.filename, confirm_restore: true, create_pre_restore_backup: false }],
      });
      expect(result.status).toBe('rolled_back');
      expect(hook.received).toHaveLength(1);
      expect(hook.received[0]!.body).toMatchObject({ kind: 'restore', outcome: 'failure', status: 'rolled_back', workflow_type: 'restoreDatabase', workflow_id: workflowId, backup_file: backup.filename, error: { type: 'RestoreVerificationFailed' } });
      expect(hook.received[0]!.body.text).toContain(`restore of ${db} ROLLED BACK (${backup.filename})`);
    } finally {
      // The live database, and the one the rollback set aside.
      const left = await withAdmin(async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${db}%`])).rows.map((r) => r.datname));
      for (const name of left) await dropDatabase(name);
    }
  });

  it('fbb doctor --notify-test sends a test notification from the worker and reports the host, not the URL', async () => {
    const hook = await receiver();
    const config = await workerWith(testConfig({ database }), { webhookUrls: [hook.url], on: 'failure' });
    const io = captured();
    // The CLI's own environment has no webhook: the worker's is used.
    const env = { ...userEnvFor(config), TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_NAMESPACE: config.temporal.namespace, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue };
    await runCli(['doctor', '--notify-test', '--json'], { stdout: io.stdout, stderr: io.stderr, env });
    const report = JSON.parse(io.text().stdout) as { checks: { name: string; status: string; detail: string }[] };
    const check = report.checks.find((c) => c.name === 'notifications');
    expect(check).toEqual({ name: 'notifications', status: 'ok', detail: `test notification delivered to ${new URL(hook.url).host}; failures will be notified` });
    expect(io.text().stdout).not.toContain(hook.token);
    expect(hook.received).toHaveLength(1);
    expect(hook.received[0]!.body).toMatchObject({ kind: 'test', workflow_type: 'checkEnvironment' });
    expect(hook.received[0]!.body.text).toContain('webhooks work');
  });
});
