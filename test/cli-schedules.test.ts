// `fbb schedules`: apply, list, pause, unpause, trigger and delete on the real Temporal dev server,
// in a namespace of this file's own (schedule IDs are fixed, and the server is shared by every test
// file); and `list --local`, which computes the next runs in this process, with the clock set (Date only).
import fs from 'node:fs';
import path from 'node:path';
import { ScheduleNotFoundError, type Client, type ScheduleDescription } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/client/cli';
import { LOCAL_SCHEDULES_NOTICE } from '../src/client/localSchedules';
import { nextFireTimes, type CalendarScheduleSpec } from '../src/schedules/nextTimes';
import { formatLocal } from '../src/schedules/zone';
import type { BackupResult } from '../src/workflows/backupDatabase';
import { captured, createDatabase, dropDatabase, tempDir, testConfig, uniqueName, userEnvFor } from './helpers';
import { createTestNamespace } from './namespaces';
import { startedBy } from './scheduleRuns';
import { onTemporal, startTestWorker, temporalInfo, type TestWorker } from './temporal';

async function fbb(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env: { TEMPORAL_ADDRESS: '127.0.0.1:1', ...env } });
  return { code, ...io.text() };
}

/** Sets "now" for the command. */
function now(iso: string): void {
  vi.setSystemTime(new Date(iso));
}

const IDS = ['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup', 'schedule_restore_drill'];

describe('fbb schedules on the Temporal server', () => {
  let database: string;
  let backupDir: string;
  let taskQueue: string;

  beforeAll(async () => {
    database = await createDatabase('cli_sched');
  });
  afterAll(async () => {
    await dropDatabase(database);
  });

  /** A fresh namespace, and the environment a user sets for it, the test database and a backup directory. */
  async function setUp(): Promise<{ namespace: string; client: Client; env: NodeJS.ProcessEnv }> {
    const { namespace, client } = await createTestNamespace('sched');
    backupDir = tempDir();
    taskQueue = uniqueName('tq');
    const env = {
      ...userEnvFor(testConfig({ database, backupDir })),
      TEMPORAL_ADDRESS: temporalInfo.address,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_TASK_QUEUE: taskQueue,
    };
    return { namespace, client, env };
  }

  /** The IDs of the schedules the namespace lists (visibility: a new one appears within moments, not at once). */
  async function listedIds(client: Client): Promise<string[]> {
    const ids: string[] = [];
    for await (const s of client.schedule.list()) ids.push(s.scheduleId);
    return ids.sort();
  }

  /** Every schedule the namespace holds, once the list shows `expected`, as the server describes it, by ID. */
  async function serverSchedules(client: Client, expected = [...IDS].sort()): Promise<Map<string, ScheduleDescription>> {
    await expect.poll(() => listedIds(client), { timeout: 30_000, interval: 200 }).toEqual(expected);
    return new Map(await Promise.all(expected.map(async (id) => [id, await client.schedule.getHandle(id).describe()] as const)));
  }

  it('apply creates exactly the three backup schedules and the restore drill (test/drill.test.ts checks that one): Toronto calendars, overlap SKIP, a one-day catch-up window, backupDatabase with its type', async () => {
    const { client, env } = await setUp();
    const { code, stdout, stderr } = await fbb(['schedules', 'apply'], env);
    // BASEBACKUP_SCHEDULE=auto and no WAL archive runs: no base-backup schedule (the last test here covers them).
    expect(stderr).toBe('fbb: the base-backup schedules were not applied: the WAL archive does not run (start it with "fbb wal start" and apply again, or set BASEBACKUP_SCHEDULE=on)\n');
    expect(stdout).toBe('created: schedule_daily_backup, schedule_weekly_backup, schedule_monthly_backup, schedule_restore_drill\nupdated: none\n');
    expect(code).toBe(0);

    const schedules = await serverSchedules(client);
    const hours = { daily: 2, weekly: 3, monthly: 4 };
    for (const type of ['daily', 'weekly', 'monthly'] as const) {
      const s = schedules.get(`schedule_${type}_backup`)!;
      expect(s.spec.timezone).toBe('America/Toronto');
      expect(s.spec.calendars).toHaveLength(1);
      expect(s.spec.calendars![0]).toMatchObject({
        second: [{ start: 0, end: 0, step: 1 }],
        minute: [{ start: 0, end: 0, step: 1 }],
        hour: [{ start: hours[type], end: hours[type], step: 1 }],
        dayOfMonth: type === 'monthly' ? [{ start: 1, end: 1, step: 1 }] : [{ start: 1, end: 31, step: 1 }],
        dayOfWeek: type === 'weekly' ? [{ start: 'SUNDAY', end: 'SUNDAY', step: 1 }] : [{ start: 'SUNDAY', end: 'SATURDAY', step: 1 }],
      });
      expect(s.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 24 * 3600 * 1000 });
      expect(s.state.paused).toBe(false);
      expect(s.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'backupDatabase',
        taskQueue,
        workflowId: `backup-${database}-${type}`,
        args: [{ backup_type: type, upload_to_s3: false, cleanup_old: true, format: 'plain_gzip' }],
      });
    }
  });

  it('apply a second time updates the same four in place; a changed SCHEDULE_DAILY_CRON reaches the server and a paused schedule stays paused', async () => {
    const { client, env } = await setUp();
    expect((await fbb(['schedules', 'apply'], env)).code).toBe(0);
    const before = await serverSchedules(client);
    const again = await fbb(['schedules', 'apply', '--json'], env);
    expect(JSON.parse(again.stdout)).toEqual({ created: [], updated: IDS });
    expect(again.code).toBe(0);
    const after = await serverSchedules(client);
    for (const id of IDS) {
      expect(after.get(id)!.spec).toEqual(before.get(id)!.spec);
      expect(after.get(id)!.action).toEqual(before.get(id)!.action);
      expect(after.get(id)!.policies).toEqual(before.get(id)!.policies);
    }

    expect((await fbb(['schedules', 'pause', 'daily'], env)).code).toBe(0);
    const changed = await fbb(['schedules', 'apply'], { ...env, SCHEDULE_DAILY_CRON: '0 30 1 * * *' });
    expect(changed.stdout).toBe('created: none\nupdated: schedule_daily_backup, schedule_weekly_backup, schedule_monthly_backup, schedule_restore_drill\n');
    const daily = await client.schedule.getHandle('schedule_daily_backup').describe();
    expect(daily.spec.calendars![0]).toMatchObject({ minute: [{ start: 30, end: 30, step: 1 }], hour: [{ start: 1, end: 1, step: 1 }] });
    expect(daily.state).toMatchObject({ paused: true, note: 'paused with fbb schedules pause' });
  });

  it('list prints the next runs the server computed (info.nextActionTimes), on the SCHEDULE_TIMEZONE wall clock, the same nextTimes.ts computes', async () => {
    const { client, env: withJitter } = await setUp();
    // Without jitter, so that the server's times are the calendar's (test/schedules-health.test.ts: with it).
    const env = { ...withJitter, SCHEDULE_JITTER: '0s' };
    await fbb(['schedules', 'apply'], env);
    const { code, stdout, stderr } = await fbb(['schedules', 'list', '--json'], env);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const rows = JSON.parse(stdout) as { id: string; applied: boolean; paused: boolean; nextActionTimes: string[]; nextActionTimesLocal: string[] }[];
    expect(rows.map((r) => [r.id, r.applied, r.paused])).toEqual(IDS.map((id) => [id, true, false]));
    for (const row of rows) {
      const { info, spec } = await client.schedule.getHandle(row.id).describe();
      expect(row.nextActionTimes).toEqual(info.nextActionTimes.map((t) => t.toISOString()));
      expect(row.nextActionTimes.length).toBeGreaterThanOrEqual(3);
      expect(row.nextActionTimesLocal).toEqual(info.nextActionTimes.map((t) => formatLocal(t, 'America/Toronto')));
      // Counted from just before the server's first time, nextTimes.ts (list --local) finds the same ones.
      const first = info.nextActionTimes[0]!;
      expect(nextFireTimes(spec as CalendarScheduleSpec, new Date(first.getTime() - 1), info.nextActionTimes.length)).toEqual(info.nextActionTimes);
    }

    const table = await fbb(['schedules', 'list'], env);
    const daily = rows[0]!;
    expect(table.stdout).toContain(`schedule_daily_backup    active  ${daily.nextActionTimesLocal.slice(0, 3).join(', ')}\n`);
    expect(table.stdout.split('\n')[0]).toMatch(/^SCHEDULE +STATE +NEXT RUNS \(America\/Toronto\)$/);
  });

  it('pause and unpause change the schedule\'s state on the server, and list shows it', async () => {
    const { client, env } = await setUp();
    await fbb(['schedules', 'apply'], env);
    const weekly = client.schedule.getHandle('schedule_weekly_backup');

    const paused = await fbb(['schedules', 'pause', 'weekly'], env);
    expect(paused).toEqual({ code: 0, stdout: 'pause: schedule_weekly_backup\n', stderr: '' });
    expect((await weekly.describe()).state).toMatchObject({ paused: true, note: 'paused with fbb schedules pause' });
    expect((await fbb(['schedules', 'list'], env)).stdout).toMatch(/\nschedule_weekly_backup +paused +\d{4}-/);

    const unpaused = await fbb(['schedules', 'unpause', 'schedule_weekly_backup', '--json'], env);
    expect(JSON.parse(unpaused.stdout)).toEqual({ action: 'unpause', schedule_id: 'schedule_weekly_backup' });
    expect((await weekly.describe()).state).toMatchObject({ paused: false, note: 'unpaused with fbb schedules unpause' });
    expect((await fbb(['schedules', 'list'], env)).stdout).toMatch(/\nschedule_weekly_backup +active +\d{4}-/);
  });

  it('trigger starts a backup of the schedule\'s type now, which a worker completes: a verified daily backup file', async () => {
    const { namespace, client, env } = await setUp();
    await fbb(['schedules', 'apply'], env);
    const config = onTemporal(testConfig({ database, backupDir }), taskQueue);
    const worker: TestWorker = await startTestWorker({ ...config, temporal: { ...config.temporal, namespace } });
    try {
      const { code, stdout } = await fbb(['schedules', 'trigger', 'daily'], env);
      expect(stdout).toBe('trigger: schedule_daily_backup\n');
      expect(code).toBe(0);
      const workflowId = await startedBy(client, 'schedule_daily_backup');
      expect(workflowId.startsWith(`backup-${database}-daily-`)).toBe(true);
      const result: BackupResult = await client.workflow.getHandle(workflowId).result();
      expect(result).toMatchObject({ status: 'success', backup_type: 'daily', verified: { ok: true }, uploaded: null });
      expect(result.filename).toMatch(/^family_brain_daily_\d{8}_\d{6}\.sql\.gz$/);
      expect(fs.readdirSync(backupDir)).toEqual(expect.arrayContaining([result.filename, `${result.filename}.manifest.json`]));
      expect(fs.statSync(path.join(backupDir, result.filename)).size).toBeGreaterThan(0);
    } finally {
      await worker.stop();
    }
  });

  it('overlap SKIP on the server: while a triggered backup still waits for a worker, a second trigger starts nothing; the worker then runs one backup', async () => {
    const { namespace, client, env } = await setUp();
    await fbb(['schedules', 'apply'], env);
    const handle = client.schedule.getHandle('schedule_weekly_backup');
    expect((await fbb(['schedules', 'trigger', 'weekly'], env)).code).toBe(0);
    const first = await startedBy(client, 'schedule_weekly_backup');
    const second = await fbb(['schedules', 'trigger', 'weekly'], env);
    expect(second.stderr).toBe(
      `fbb: schedule_weekly_backup still has a backup running or waiting for a worker (${first}); with overlap policy SKIP this trigger starts nothing. See "fbb history" or the Web UI\n`,
    );
    expect(second.code).toBe(0);
    await expect.poll(async () => (await handle.describe()).info.numActionsSkippedOverlap, { timeout: 60_000, interval: 200 }).toBe(1);
    const { info } = await handle.describe();
    expect([info.numActionsTaken, info.runningActions.map((a) => a.workflow.workflowId)]).toEqual([1, [first]]);

    const config = onTemporal(testConfig({ database, backupDir }), taskQueue);
    const worker = await startTestWorker({ ...config, temporal: { ...config.temporal, namespace } });
    try {
      expect(await client.workflow.getHandle(first).result()).toMatchObject({ status: 'success', backup_type: 'weekly', verified: { ok: true } });
    } finally {
      await worker.stop();
    }
    expect(fs.readdirSync(backupDir).filter((f) => f.endsWith('.sql.gz'))).toHaveLength(1);
  });

  it('delete removes the schedule from the server; list marks it "not applied", trigger names the fix, apply brings it back', async () => {
    const { client, env } = await setUp();
    await fbb(['schedules', 'apply'], env);
    const deleted = await fbb(['schedules', 'delete', 'monthly'], env);
    expect(deleted).toEqual({ code: 0, stdout: 'delete: schedule_monthly_backup\n', stderr: '' });
    await expect(client.schedule.getHandle('schedule_monthly_backup').describe()).rejects.toThrow(ScheduleNotFoundError);

    const list = await fbb(['schedules', 'list', '--json'], env);
    expect((JSON.parse(list.stdout) as { id: string; applied: boolean; nextActionTimes: string[] }[]).find((r) => r.id === 'schedule_monthly_backup')).toEqual({
      id: 'schedule_monthly_backup',
      applied: false,
      paused: false,
      note: null,
      missedCatchupWindow: 0,
      nextActionTimes: [],
      nextActionTimesLocal: [],
      problems: [],
    });
    expect(list.stderr).toBe('fbb: a schedule marked "not applied" is not on the Temporal server; run "fbb schedules apply" to create it\n');
    expect((await fbb(['schedules', 'list'], env)).stdout).toMatch(/\nschedule_monthly_backup +not applied *\n/);

    const trigger = await fbb(['schedules', 'trigger', 'monthly'], env);
    expect(trigger.stderr).toBe(
      'fbb: schedule schedule_monthly_backup does not exist on the Temporal server; run "fbb schedules apply" to create the three schedules, then "fbb schedules trigger monthly" again\n',
    );
    expect(trigger.code).toBe(1);

    expect((await fbb(['schedules', 'apply'], env)).stdout).toBe('created: schedule_monthly_backup\nupdated: schedule_daily_backup, schedule_weekly_backup, schedule_restore_drill\n');
    await serverSchedules(client);
  });

  it('applies the base-backup schedules only when base backups are wanted: auto waits for the WAL archive and says so; on creates the weekly full and the daily incremental (baseBackup), listed with their next runs', async () => {
    const { client, env } = await setUp();
    const auto = await fbb(['schedules', 'apply'], env);
    expect(auto).toEqual({
      code: 0,
      stdout: 'created: schedule_daily_backup, schedule_weekly_backup, schedule_monthly_backup, schedule_restore_drill\nupdated: none\n',
      stderr: 'fbb: the base-backup schedules were not applied: the WAL archive does not run (start it with "fbb wal start" and apply again, or set BASEBACKUP_SCHEDULE=on)\n',
    });
    await expect(client.schedule.getHandle('schedule_basebackup_full').describe()).rejects.toThrow(ScheduleNotFoundError);

    const on = { ...env, BASEBACKUP_SCHEDULE: 'on' };
    const applied = await fbb(['schedules', 'apply'], on);
    expect(applied).toEqual({
      code: 0,
      stdout: 'created: schedule_basebackup_full, schedule_basebackup_incremental\nupdated: schedule_daily_backup, schedule_weekly_backup, schedule_monthly_backup, schedule_restore_drill\n',
      stderr: '',
    });
    const base = await serverSchedules(client, [...IDS, 'schedule_basebackup_full', 'schedule_basebackup_incremental'].sort());
    const full = base.get('schedule_basebackup_full')!;
    expect(full.action).toMatchObject({ type: 'startWorkflow', workflowType: 'baseBackup', taskQueue, workflowId: `basebackup-${database}-full`, args: [{ incremental: false }] });
    expect(full.spec.calendars?.[0]).toMatchObject({ hour: [{ start: 0, end: 0, step: 1 }], minute: [{ start: 30, end: 30, step: 1 }], dayOfWeek: [{ start: 'SUNDAY', end: 'SUNDAY', step: 1 }] });
    expect(full.spec.timezone).toBe('America/Toronto');
    expect(full.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 86_400_000 });
    expect(base.get('schedule_basebackup_incremental')!.action).toMatchObject({ workflowType: 'baseBackup', args: [{ incremental: true }] });

    const list = await fbb(['schedules', 'list'], on);
    expect(list.code, list.stderr).toBe(0);
    // 00:30 plus up to SCHEDULE_JITTER (5 minutes).
    expect(list.stdout).toMatch(/\nschedule_basebackup_full +active +\d{4}-\d\d-\d\d 00:3[0-5]:\d\d -0[45]:00, /);
    expect(list.stdout).toMatch(/\nschedule_basebackup_incremental +active +\d{4}-\d\d-\d\d 00:3[0-5]:\d\d -0[45]:00, /);
    // Applied while wanted, they stay listed (and health-checked) when the archive no longer runs.
    expect((await fbb(['schedules', 'list'], env)).stdout).toContain('\nschedule_basebackup_full ');
  });
});

describe('fbb schedules list --local', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('prints each schedule with its cron, time zone and next three runs on the local wall clock, skipping 02:00 on 2026-03-08', async () => {
    now('2026-03-06T12:00:00Z');
    const { code, stdout, stderr } = await fbb(['schedules', 'list', '--local']);
    expect(stdout).toBe(
      [
        'SCHEDULE                 CRON         TIME ZONE        NEXT RUNS (local time)',
        'schedule_daily_backup    0 0 2 * * *  America/Toronto  2026-03-07 02:00:00 -05:00, 2026-03-09 02:00:00 -04:00, 2026-03-10 02:00:00 -04:00',
        'schedule_weekly_backup   0 0 3 * * 7  America/Toronto  2026-03-08 03:00:00 -04:00, 2026-03-15 03:00:00 -04:00, 2026-03-22 03:00:00 -04:00',
        'schedule_monthly_backup  0 0 4 1 * *  America/Toronto  2026-04-01 04:00:00 -04:00, 2026-05-01 04:00:00 -04:00, 2026-06-01 04:00:00 -04:00',
        'schedule_restore_drill   0 0 5 * * 7  America/Toronto  2026-03-08 05:00:00 -04:00, 2026-03-15 05:00:00 -04:00, 2026-03-22 05:00:00 -04:00',
        '',
      ].join('\n'),
    );
    expect(stderr).toBe(`${LOCAL_SCHEDULES_NOTICE}\n`);
    expect(code).toBe(0);
  });

  it('--json gives the configured crons and time zone, and each next run in UTC and local time', async () => {
    now('2026-10-31T12:00:00Z');
    const { code, stdout } = await fbb(['schedules', 'list', '--local', '--json'], { SCHEDULE_DAILY_CRON: '0 30 1 * * *', SCHEDULE_TIMEZONE: 'America/Toronto' });
    expect(JSON.parse(stdout)).toEqual([
      {
        id: 'schedule_daily_backup',
        cron: '0 30 1 * * *',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z', '2026-11-02T06:30:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 01:30:00 -04:00', '2026-11-01 01:30:00 -05:00', '2026-11-02 01:30:00 -05:00'],
      },
      {
        id: 'schedule_weekly_backup',
        cron: '0 0 3 * * 7',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T08:00:00.000Z', '2026-11-08T08:00:00.000Z', '2026-11-15T08:00:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 03:00:00 -05:00', '2026-11-08 03:00:00 -05:00', '2026-11-15 03:00:00 -05:00'],
      },
      {
        id: 'schedule_monthly_backup',
        cron: '0 0 4 1 * *',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T09:00:00.000Z', '2026-12-01T09:00:00.000Z', '2027-01-01T09:00:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 04:00:00 -05:00', '2026-12-01 04:00:00 -05:00', '2027-01-01 04:00:00 -05:00'],
      },
      {
        id: 'schedule_restore_drill',
        cron: '0 0 5 * * 7',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T10:00:00.000Z', '2026-11-08T10:00:00.000Z', '2026-11-15T10:00:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 05:00:00 -05:00', '2026-11-08 05:00:00 -05:00', '2026-11-15 05:00:00 -05:00'],
      },
    ]);
    expect(code).toBe(0);
  });

  it('lists the base-backup schedules with BASEBACKUP_SCHEDULE=on: full on Sunday, incremental Monday to Saturday, at 00:30', async () => {
    now('2026-12-05T12:00:00Z');
    const { code, stdout } = await fbb(['schedules', 'list', '--local'], { BASEBACKUP_SCHEDULE: 'on' });
    expect(stdout.split('\n').slice(5)).toEqual([
      'schedule_basebackup_full         0 30 0 * * 7    America/Toronto  2026-12-06 00:30:00 -05:00, 2026-12-13 00:30:00 -05:00, 2026-12-20 00:30:00 -05:00',
      'schedule_basebackup_incremental  0 30 0 * * 1-6  America/Toronto  2026-12-07 00:30:00 -05:00, 2026-12-08 00:30:00 -05:00, 2026-12-09 00:30:00 -05:00',
      '',
    ]);
    expect(code).toBe(0);
    const without = await fbb(['schedules', 'list', '--local'], { BASEBACKUP_SCHEDULE: 'auto' });
    expect(without.stdout).not.toContain('basebackup');
  });

  it('uses SCHEDULE_TIMEZONE for the runs and their wall clock', async () => {
    now('2026-03-27T12:00:00Z');
    const { code, stdout } = await fbb(['schedules', 'list', '--local', '--json'], { SCHEDULE_TIMEZONE: 'Europe/Berlin' });
    const daily = (JSON.parse(stdout) as { id: string; timezone: string; nextActionTimesLocal: string[] }[])[0]!;
    expect(daily).toMatchObject({ id: 'schedule_daily_backup', timezone: 'Europe/Berlin', nextActionTimesLocal: ['2026-03-28 02:00:00 +01:00', '2026-03-30 02:00:00 +02:00', '2026-03-31 02:00:00 +02:00'] });
    expect(code).toBe(0);
  });

  it('exits 2 naming the variable when a configured cron is invalid', async () => {
    const { code, stdout, stderr } = await fbb(['schedules', 'list', '--local'], { SCHEDULE_WEEKLY_CRON: '0 0 24 * * 7' });
    expect(stderr).toContain('  - SCHEDULE_WEEKLY_CRON="0 0 24 * * 7": hours 24 is outside 0-23 (example: SCHEDULE_WEEKLY_CRON=0 0 3 * * 7)\n');
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });

  it.each(['apply', 'pause'])('refuses --local for "%s", which changes the server, and exits 2', async (action) => {
    const { code, stderr } = await fbb(['schedules', action, 'daily', '--local']);
    expect(stderr).toBe(`fbb: fbb schedules ${action} changes the schedules on the Temporal server, so it has no --local; run it without --local (only "fbb schedules list" has one)\n`);
    expect(code).toBe(2);
  });

  it('is among the examples of fbb schedules --help', async () => {
    const { code, stdout } = await fbb(['schedules', '--help']);
    expect(stdout).toContain('  $ fbb schedules list --local\n');
    expect(code).toBe(0);
  });
});
