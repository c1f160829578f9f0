// Schedules, the rest of the way, on real dev servers: jitter in the spec the server keeps and
// applies; a schedule the server paused after a failed run, and runs missed beyond the catch-up
// window, reported by `fbb schedules list` (exit 1) and sent to the webhook.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type ScheduleUpdateOptions } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import { nextFireTimes, type CalendarScheduleSpec } from '../src/schedules/nextTimes';
import { startTemporalDevServer } from '../src/temporalServer';
import { captured, createDatabase, dropDatabase, tempDir, testConfig, uniqueName, userEnvFor } from './helpers';
import { createTestNamespace } from './namespaces';
import { onTemporal, startTestWorker, temporalInfo } from './temporal';
import { startReceiver, type Receiver } from './webhook';

async function fbb(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
  return { code, ...io.text() };
}

let database: string;
let receiver: Receiver;
beforeAll(async () => {
  database = await createDatabase('sched_health');
  receiver = await startReceiver(uniqueName('tok'));
});
afterAll(async () => {
  await receiver?.stop();
  if (database) await dropDatabase(database);
});

/** The environment of a user on `address`/`namespace`, with the webhook. */
function userEnv(address: string, namespace: string, taskQueue: string): NodeJS.ProcessEnv {
  return { ...userEnvFor(testConfig({ database, backupDir: tempDir() })), TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace, TEMPORAL_TASK_QUEUE: taskQueue, NOTIFY_WEBHOOK_URL: receiver.url };
}

describe('schedule jitter', () => {
  it('apply puts SCHEDULE_JITTER (default 5m) in every spec, and the server starts each run within that much after its time', async () => {
    const { namespace, client } = await createTestNamespace('jitter');
    const env = userEnv(temporalInfo.address, namespace, uniqueName('tq'));
    expect((await fbb(['schedules', 'apply'], env)).code).toBe(0);
    for (const id of ['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup', 'schedule_restore_drill']) {
      expect((await client.schedule.getHandle(id).describe()).spec.jitter, id).toBe(5 * 60_000);
    }
    expect((await fbb(['schedules', 'apply'], { ...env, SCHEDULE_JITTER: '10m' })).code).toBe(0);
    const { spec, info } = await client.schedule.getHandle('schedule_daily_backup').describe();
    expect(spec.jitter).toBe(10 * 60_000);
    // Each time the server computed is its calendar time (nextTimes.ts, without jitter) plus less than 10 minutes.
    const calendar = nextFireTimes(spec as CalendarScheduleSpec, new Date(info.nextActionTimes[0]!.getTime() - 10 * 60_000), info.nextActionTimes.length);
    info.nextActionTimes.forEach((t, i) => {
      const late = t.getTime() - calendar[i]!.getTime();
      expect(late, t.toISOString()).toBeGreaterThanOrEqual(0);
      expect(late, t.toISOString()).toBeLessThan(10 * 60_000);
    });

    expect((await fbb(['schedules', 'apply'], { ...env, SCHEDULE_JITTER: '0s' })).code).toBe(0);
    expect((await client.schedule.getHandle('schedule_daily_backup').describe()).spec.jitter).toBeUndefined();
  });
});

describe('fbb schedules list reports and notifies', () => {
  it('a schedule the server paused after a failed run: state "paused (run failed)", the reason, exit 1, a webhook notification', async () => {
    const { namespace, client } = await createTestNamespace('paused');
    const taskQueue = uniqueName('tq');
    const env = userEnv(temporalInfo.address, namespace, taskQueue);
    expect((await fbb(['schedules', 'apply'], env)).code).toBe(0);
    // An operator turned on pauseOnFailure (fbb does not: a failed night must not stop the next), and a scheduled run
    // fails (a trigger does not pause it: the server pauses on scheduled runs only). Every 3 s, so that one is due now.
    const daily = client.schedule.getHandle('schedule_daily_backup');
    await daily.update(
      (previous) => ({ ...previous, spec: { intervals: [{ every: '3s' }] }, policies: { ...previous.policies, pauseOnFailure: true }, action: { ...previous.action, args: [{ backup_type: 'hourly' }] } }) as ScheduleUpdateOptions,
    );
    const config = onTemporal(testConfig({ database }), taskQueue);
    const worker = await startTestWorker({ ...config, temporal: { ...config.temporal, namespace } });
    try {
      await expect.poll(async () => (await daily.describe()).state.paused, { timeout: 90_000, interval: 500 }).toBe(true);
    } finally {
      await worker.stop();
    }
    const { note } = (await daily.describe()).state;
    const before = receiver.received.length;

    const listed = await fbb(['schedules', 'list'], env);
    const message = `schedule schedule_daily_backup was paused by the Temporal server after a run failed ("${note}"); no scheduled run starts until it is unpaused: find and fix the failure (fbb history --type backup), then "fbb schedules unpause schedule_daily_backup"`;
    expect(note).toMatch(/^paused due to workflow failure: backup-.*invalid backup input/);
    expect(listed.stdout).toMatch(/\nschedule_daily_backup +paused \(run failed\) +\d{4}-/);
    expect(listed.stderr).toBe(`fbb: ${message}\n`);
    expect(listed.code).toBe(1);
    const sent = receiver.received.slice(before).map((r) => r.body);
    expect(sent).toEqual([expect.objectContaining({ kind: 'schedule', outcome: 'failure', workflow_id: 'schedule_daily_backup', status: 'paused', error: { type: 'SchedulePaused', message } })]);
    expect(sent[0]!.text).toContain(`fbb: schedule schedule_daily_backup of ${database} PAUSED`);

    // A pause by a person is shown, not reported. (apply first puts the daily calendar back: no run is due now.)
    expect((await fbb(['schedules', 'apply'], env)).code).toBe(0);
    expect((await fbb(['schedules', 'unpause', 'daily'], env)).code).toBe(0);
    expect((await fbb(['schedules', 'pause', 'weekly'], env)).code).toBe(0);
    const quiet = await fbb(['schedules', 'list'], env);
    expect({ code: quiet.code, stderr: quiet.stderr }).toEqual({ code: 0, stderr: '' });
    expect(quiet.stdout).toMatch(/\nschedule_weekly_backup +paused +\d{4}-/);
    expect(receiver.received.length).toBe(before + 1);
  });

  it('runs missed while the server was down longer than the catch-up window: reported with their count, exit 1, notified', async () => {
    // A server of its own, stopped and started again on the same SQLite file.
    const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-missed-'));
    let server = await startTemporalDevServer({ stateDir, headless: true, startTimeoutMs: 120_000 });
    const port = Number(server.address.split(':').pop());
    try {
      const env = userEnv(server.address, 'default', uniqueName('tq'));
      let client = new Client({ connection: await Connection.connect({ address: server.address }) });
      // schedule_daily_backup every 2 s with the shortest catch-up window the server takes (10 s); its runs time out at once (no worker).
      await client.schedule.create({
        scheduleId: 'schedule_daily_backup',
        spec: { intervals: [{ every: '2s' }] },
        action: { type: 'startWorkflow', workflowType: 'backupDatabase', taskQueue: 'nobody-polls', workflowExecutionTimeout: '1s', args: [{ backup_type: 'daily' }] },
        policies: { catchupWindow: '10s', overlap: 'ALLOW_ALL' },
      });
      // Stopped once the schedule has run (a schedule the server never woke for has nothing to catch up).
      await expect.poll(async () => (await client.schedule.getHandle('schedule_daily_backup').describe()).info.numActionsTaken, { timeout: 60_000, interval: 500 }).toBeGreaterThan(0);
      await client.connection.close();
      await server.stop();
      // Down past the 10 s catch-up window, with a margin: the runs due in the first seconds are then too old to start.
      await new Promise((r) => setTimeout(r, 15_000));
      server = await startTemporalDevServer({ stateDir, port, headless: true, startTimeoutMs: 120_000 });
      client = new Client({ connection: await Connection.connect({ address: server.address }) });
      const missed = await expect
        .poll(async () => (await client.schedule.getHandle('schedule_daily_backup').describe()).info.numActionsMissedCatchupWindow, { timeout: 60_000, interval: 500 })
        .toBeGreaterThan(0)
        .then(async () => (await client.schedule.getHandle('schedule_daily_backup').describe()).info.numActionsMissedCatchupWindow);
      await client.connection.close();
      const before = receiver.received.length;

      const listed = await fbb(['schedules', 'list', '--json'], env);
      expect(listed.code).toBe(1);
      const rows = JSON.parse(listed.stdout) as { id: string; missedCatchupWindow: number; problems: string[] }[];
      const row = rows.find((r) => r.id === 'schedule_daily_backup')!;
      expect(row.missedCatchupWindow).toBeGreaterThanOrEqual(missed);
      const message = `schedule schedule_daily_backup missed ${row.missedCatchupWindow} runs: each was due longer ago than its catch-up window (1 day) when the Temporal server could start it, so it never ran; make one now with "fbb schedules trigger schedule_daily_backup" and keep the server up`;
      expect(row.problems).toEqual([message]);
      expect(listed.stderr).toContain(`fbb: ${message}\n`);
      expect(receiver.received.slice(before).map((r) => r.body)).toEqual([expect.objectContaining({ kind: 'schedule', workflow_id: 'schedule_daily_backup', status: 'missed_runs', error: { type: 'ScheduleMissedRuns', message } })]);
    } finally {
      await server.stop();
      fs.rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
