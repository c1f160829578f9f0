// The CLI's Temporal paths: history, status, restore confirm/cancel and --workflow-id on a start.
// No Temporal server can run on our machines (see /work/shared/ENVIRONMENT.md), so these run
// against a fake of the slice of @temporalio/client's Client the CLI uses. The fake answers as the
// server does by its documentation (ID conflict and reuse policies, visibility order, NotFound); the
// real server is not exercised here.
import { PassThrough } from 'node:stream';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, RetryState, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { HistoryEntry } from '../src/client/history/entry';
import { IDEMPOTENT_START } from '../src/client/runner';
import type { BackupResult } from '../src/workflows/backupDatabase';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { captured, tempDir } from './helpers';

type Status = 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED';

interface FakeRun {
  workflowId: string;
  runId: string;
  type: string;
  status: Status;
  startTime: Date;
  closeTime?: Date;
  result?: unknown;
  failure?: Error;
  queries?: Record<string, unknown>;
}

/** A fake of Client's `workflow` and `connection` as the CLI uses them, recording what it was asked. */
class FakeTemporal {
  readonly runs: FakeRun[] = [];
  readonly starts: Record<string, unknown>[] = [];
  readonly lists: { query?: string; pageSize?: number }[] = [];
  readonly resultsRead: string[] = [];
  readonly signals: { workflowId: string; name: string; args: unknown[] }[] = [];
  /** What a run started through the fake returns. */
  nextResult: unknown;
  closed = 0;
  private counter = 0;

  add(run: Omit<FakeRun, 'runId'>): FakeRun {
    const full = { ...run, runId: `run-${++this.counter}` };
    this.runs.push(full);
    return full;
  }

  readonly client = {
    connection: { close: async () => void this.closed++ },
    workflow: {
      start: async (workflow: { name: string }, options: Record<string, unknown>) => {
        this.starts.push(options);
        const id = options.workflowId as string;
        const latest = this.latest(id);
        if (latest?.status === 'RUNNING') {
          if (options.workflowIdConflictPolicy !== 'USE_EXISTING') throw new WorkflowExecutionAlreadyStartedError('Workflow execution already started', id, workflow.name);
          return this.handle(id);
        }
        if (latest?.status === 'COMPLETED' && options.workflowIdReusePolicy !== 'ALLOW_DUPLICATE') throw new WorkflowExecutionAlreadyStartedError('Workflow execution already started', id, workflow.name);
        this.add({ workflowId: id, type: workflow.name, status: 'COMPLETED', startTime: new Date(), closeTime: new Date(), result: this.nextResult });
        return this.handle(id);
      },
      getHandle: (workflowId: string, runId?: string) => this.handle(workflowId, runId),
      list: (options: { query?: string; pageSize?: number }) => {
        this.lists.push(options);
        const types = [...(options.query ?? '').matchAll(/'(\w+)'/g)].map((m) => m[1]);
        const order = (r: FakeRun) => r.closeTime?.getTime() ?? Number.MAX_SAFE_INTEGER;
        const matching = this.runs.filter((r) => types.includes(r.type)).sort((a, b) => order(b) - order(a) || b.startTime.getTime() - a.startTime.getTime());
        return (async function* () {
          for (const r of matching) yield { type: r.type, workflowId: r.workflowId, runId: r.runId, status: { name: r.status }, startTime: r.startTime, closeTime: r.closeTime, taskQueue: 'family-brain-backup' };
        })();
      },
    },
  };

  asClient(): Client {
    return this.client as unknown as Client;
  }

  private latest(workflowId: string, runId?: string): FakeRun | undefined {
    return this.runs.filter((r) => r.workflowId === workflowId && (runId === undefined || r.runId === runId)).at(-1);
  }

  private handle(workflowId: string, runId?: string) {
    const run = () => {
      const r = this.latest(workflowId, runId);
      if (r === undefined) throw new WorkflowNotFoundError('workflow not found', workflowId, runId);
      return r;
    };
    return {
      workflowId,
      describe: async () => {
        const r = run();
        return { type: r.type, workflowId: r.workflowId, runId: r.runId, taskQueue: 'family-brain-backup', status: { name: r.status }, startTime: r.startTime, closeTime: r.closeTime, raw: { pendingActivities: [] } };
      },
      result: async () => {
        const r = run();
        this.resultsRead.push(r.runId);
        if (r.failure) throw new WorkflowFailedError('Workflow execution failed', r.failure, RetryState.NON_RETRYABLE_FAILURE);
        return r.result;
      },
      query: async (name: string | { name: string }) => run().queries?.[typeof name === 'string' ? name : name.name],
      signal: async (def: { name: string }, ...args: unknown[]) => {
        run();
        this.signals.push({ workflowId, name: def.name, args });
      },
    };
  }
}

async function fbb(args: string[], fake: FakeTemporal): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const env = { TEMPORAL_ADDRESS: 'temporal.test:7233', BACKUP_DIR: tempDir(), PGDATABASE: 'family_brain' };
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env, connect: async () => fake.asClient() });
  return { code, ...io.text() };
}

const at = (s: string) => new Date(`2026-11-24T${s}Z`);

const backupResult = (filename: string): BackupResult => ({
  status: 'success',
  dry_run: false,
  filename,
  backup_type: 'daily',
  size_mb: 2.11,
  tables_backed_up: 15,
  total_rows: 2260,
  table_details: { tenants: 5 },
  sha256: 'ab'.repeat(32),
  verified: { ok: true, tables_checked: 15, verified_at: '2026-11-24T07:00:05.000Z', duration_ms: 900 },
  uploaded: null,
  pruned: [],
  duration_ms: 3000,
});

const restoreResult = (over: Partial<RestoreResult>): RestoreResult => ({
  status: 'success',
  phase: 'done',
  restored_from: 'family_brain_daily_20261123_020000.sql.gz',
  backup_source: 'local',
  pre_restore_backup: 'family_brain_pre_restore_20261124_051500.sql.gz',
  strategy: 'swap',
  verification: { ok: true, tables: {} } as unknown as RestoreResult['verification'],
  rollback: null,
  aside_database: null,
  roles_created: [],
  confirmed_by: 'grace@host',
  confirm_by: null,
  error: null,
  duration_ms: 9000,
  ...over,
});

/** Last night's backups and a restore, as the visibility API would list them. */
function lastNight(): FakeTemporal {
  const fake = new FakeTemporal();
  fake.add({
    workflowId: 'backup-family_brain-daily-20261123T070000Z',
    type: 'backupDatabase',
    status: 'COMPLETED',
    startTime: new Date('2026-11-23T07:00:00Z'),
    closeTime: new Date('2026-11-23T07:00:03Z'),
    result: backupResult('family_brain_daily_20261123_020000.sql.gz'),
  });
  fake.add({
    workflowId: 'backup-family_brain-daily-20261124T070000Z',
    type: 'backupDatabase',
    status: 'FAILED',
    startTime: at('07:00:00'),
    closeTime: at('07:00:02'),
    failure: ApplicationFailure.create({ type: 'DatabaseUnreachable', message: 'cannot connect to database "family_brain"; check PGHOST' }),
  });
  fake.add({ workflowId: 'restore-family_brain-20261124T101500Z', type: 'restoreDatabase', status: 'COMPLETED', startTime: at('10:15:00'), closeTime: at('10:16:00'), result: restoreResult({}) });
  fake.add({
    workflowId: 'restore-family_brain-20261124T120000Z',
    type: 'restoreDatabase',
    status: 'RUNNING',
    startTime: at('12:00:00'),
    queries: { status: restoreResult({ status: 'running', phase: 'awaiting_confirmation', confirm_by: '2026-11-24T13:00:00.000Z', verification: null, confirmed_by: null }) },
  });
  return fake;
}

describe('fbb history (Temporal visibility, through a fake client)', () => {
  it('--json lists backups and restores newest first, with result summaries read only for the runs listed', async () => {
    const fake = lastNight();
    const { code, stdout } = await fbb(['history', '--json'], fake);
    expect(fake.lists).toEqual([{ query: "WorkflowType IN ('backupDatabase', 'restoreDatabase')", pageSize: 20 }]);
    expect(JSON.parse(stdout)).toEqual([
      {
        workflow_id: 'restore-family_brain-20261124T120000Z', run_id: 'run-4', kind: 'restore', status: 'running',
        started_at: '2026-11-24T12:00:00.000Z', closed_at: null, summary: null, error: null, source: 'temporal',
      },
      {
        workflow_id: 'restore-family_brain-20261124T101500Z', run_id: 'run-3', kind: 'restore', status: 'completed',
        started_at: '2026-11-24T10:15:00.000Z', closed_at: '2026-11-24T10:16:00.000Z',
        summary: { restore_status: 'success', restored_from: 'family_brain_daily_20261123_020000.sql.gz', pre_restore_backup: 'family_brain_pre_restore_20261124_051500.sql.gz', verified: true },
        error: null, source: 'temporal',
      },
      {
        workflow_id: 'backup-family_brain-daily-20261124T070000Z', run_id: 'run-2', kind: 'backup', status: 'failed',
        started_at: '2026-11-24T07:00:00.000Z', closed_at: '2026-11-24T07:00:02.000Z', summary: null,
        error: { type: 'DatabaseUnreachable', message: 'cannot connect to database "family_brain"; check PGHOST' }, source: 'temporal',
      },
      {
        workflow_id: 'backup-family_brain-daily-20261123T070000Z', run_id: 'run-1', kind: 'backup', status: 'completed',
        started_at: '2026-11-23T07:00:00.000Z', closed_at: '2026-11-23T07:00:03.000Z',
        summary: { filename: 'family_brain_daily_20261123_020000.sql.gz', backup_type: 'daily', size_mb: 2.11, total_rows: 2260, verified: true, dry_run: false },
        error: null, source: 'temporal',
      },
    ] satisfies HistoryEntry[]);
    expect(fake.resultsRead.sort()).toEqual(['run-1', 'run-2', 'run-3']);
    expect(fake.closed).toBe(1);
    expect(code).toBe(0);
  });

  it('--type and --limit narrow the query and the results read', async () => {
    const fake = lastNight();
    const { code, stdout } = await fbb(['history', '--type', 'backup', '--limit', '1', '--json'], fake);
    expect(fake.lists).toEqual([{ query: "WorkflowType IN ('backupDatabase')", pageSize: 1 }]);
    expect((JSON.parse(stdout) as HistoryEntry[]).map((e) => [e.workflow_id, e.status])).toEqual([['backup-family_brain-daily-20261124T070000Z', 'failed']]);
    expect(fake.resultsRead).toEqual(['run-2']);
    expect(code).toBe(0);
  });

  it('prints a table that answers "did last night\'s backup work?"', async () => {
    const { code, stdout } = await fbb(['history', '--type', 'backup'], lastNight());
    expect(stdout).toBe(
      [
        'STARTED (UTC)        FINISHED (UTC)       KIND    RESULT    WORKFLOW ID                                 DETAILS',
        '2026-11-24 07:00:00  2026-11-24 07:00:02  backup  FAILED    backup-family_brain-daily-20261124T070000Z  DatabaseUnreachable: cannot connect to database "family_brain"; check PGHOST',
        '2026-11-23 07:00:00  2026-11-23 07:00:03  backup  verified  backup-family_brain-daily-20261123T070000Z  family_brain_daily_20261123_020000.sql.gz, 2.11 MB, 2,260 rows',
        '',
      ].join('\n'),
    );
    expect(code).toBe(0);
  });

  it('says so when there are no runs yet', async () => {
    const { code, stdout } = await fbb(['history'], new FakeTemporal());
    expect(stdout).toBe('no backup or restore runs on Temporal yet: make one with "fbb backup"\n');
    expect(code).toBe(0);
  });

  it('without a Temporal server exits 3 and says how to go on', async () => {
    const out = new PassThrough();
    let stderr = '';
    const err = new PassThrough().on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await runCli(['history'], { stdout: out, stderr: err, env: { TEMPORAL_ADDRESS: '127.0.0.1:1', BACKUP_DIR: tempDir() } });
    expect(stderr).toMatch(/^fbb: cannot connect to Temporal at 127\.0\.0\.1:1: .*add --local to run in this process\n$/s);
    expect(code).toBe(3);
  });
});

describe('fbb status (through a fake client)', () => {
  it('shows a restore waiting for confirmation, with how to confirm it', async () => {
    const { code, stdout } = await fbb(['status', 'restore-family_brain-20261124T120000Z'], lastNight());
    expect(stdout).toBe(
      [
        'restore restore-family_brain-20261124T120000Z: running',
        '  started             2026-11-24T12:00:00.000Z',
        '  finished            -',
        '  phase               awaiting confirmation',
        '  pre-restore backup  family_brain_pre_restore_20261124_051500.sql.gz',
        '  waiting             until 2026-11-24T13:00:00.000Z: fbb restore confirm restore-family_brain-20261124T120000Z (or fbb restore cancel restore-family_brain-20261124T120000Z)',
        '',
      ].join('\n'),
    );
    expect(code).toBe(0);
  });

  it('--json gives the history entry, the workflow type and the live query answer', async () => {
    const { code, stdout } = await fbb(['status', 'restore-family_brain-20261124T120000Z', '--json'], lastNight());
    const report = JSON.parse(stdout) as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual(['closed_at', 'error', 'kind', 'live', 'run_id', 'source', 'started_at', 'status', 'summary', 'workflow_id', 'workflow_type']);
    expect(report).toMatchObject({ kind: 'restore', status: 'running', workflow_type: 'restoreDatabase', live: { phase: 'awaiting_confirmation' } });
    expect(code).toBe(0);
  });

  it('shows how a finished backup ended, from its result', async () => {
    const { code, stdout } = await fbb(['status', 'backup-family_brain-daily-20261124T070000Z'], lastNight());
    expect(stdout).toBe(
      'backup backup-family_brain-daily-20261124T070000Z: FAILED\n  started   2026-11-24T07:00:00.000Z\n  finished  2026-11-24T07:00:02.000Z\n' +
        '  details   DatabaseUnreachable: cannot connect to database "family_brain"; check PGHOST\n',
    );
    expect(code).toBe(0);
  });

  it('an unknown ID is bad input and points at fbb history (exit 2)', async () => {
    const { code, stderr } = await fbb(['status', 'restore-nope'], lastNight());
    expect(stderr).toBe('fbb: no workflow restore-nope on Temporal at temporal.test:7233 (namespace default); "fbb history" lists recent runs with their IDs\n');
    expect(code).toBe(2);
  });

  it('--local explains that a --local run cannot be reached from another process (exit 2)', async () => {
    const { code, stderr } = await fbb(['status', 'backup-x', '--local'], lastNight());
    expect(stderr).toBe(
      'fbb: a --local run lives only inside the process that started it, so backup-x cannot be reached from here; the process that started it shows its progress, and "fbb history --local" shows how runs ended\n',
    );
    expect(code).toBe(2);
  });
});

describe('fbb restore confirm|cancel (through a fake client)', () => {
  it('confirm signals the waiting restore with who confirmed, and --json says what was sent', async () => {
    const fake = lastNight();
    const { code, stdout } = await fbb(['restore', 'confirm', 'restore-family_brain-20261124T120000Z', '--json'], fake);
    const sent = JSON.parse(stdout) as { workflow_id: string; signal: string; by: string };
    expect(sent).toEqual({ workflow_id: 'restore-family_brain-20261124T120000Z', signal: 'confirmRestore', by: expect.stringContaining('@') });
    expect(fake.signals).toEqual([{ workflowId: 'restore-family_brain-20261124T120000Z', name: 'confirmRestore', args: [{ confirmed_by: sent.by }] }]);
    expect(code).toBe(0);
  });

  it('cancel signals cancelRestore and says how to follow it', async () => {
    const fake = lastNight();
    const { code, stdout } = await fbb(['restore', 'cancel', 'restore-family_brain-20261124T120000Z'], fake);
    expect(stdout).toBe('cancelled restore-family_brain-20261124T120000Z; follow it with: fbb status restore-family_brain-20261124T120000Z\n');
    expect(fake.signals.map((s) => s.name)).toEqual(['cancelRestore']);
    expect(code).toBe(0);
  });

  it('sends nothing to a restore that has finished, or to a backup (exit 2)', async () => {
    const fake = lastNight();
    const done = await fbb(['restore', 'confirm', 'restore-family_brain-20261124T101500Z'], fake);
    expect(done.stderr).toBe('fbb: restore restore-family_brain-20261124T101500Z is not running any more (completed); nothing was sent; "fbb status restore-family_brain-20261124T101500Z" shows how it ended\n');
    expect(done.code).toBe(2);
    const backup = await fbb(['restore', 'cancel', 'backup-family_brain-daily-20261123T070000Z'], fake);
    expect(backup.stderr).toBe('fbb: backup-family_brain-daily-20261123T070000Z is a backupDatabase run, not a restore; nothing was sent; "fbb history --type restore" lists restores\n');
    expect(backup.code).toBe(2);
    expect(fake.signals).toEqual([]);
  });
});

describe('--workflow-id on Temporal (through a fake client)', () => {
  it('starts with the ID conflict and reuse policies that make the ID an idempotency key', async () => {
    const fake = new FakeTemporal();
    fake.nextResult = backupResult('family_brain_daily_20261124_020000.sql.gz');
    const { code, stdout, stderr } = await fbb(['backup', '--type', 'daily', '--workflow-id', 'nightly-2026-11-24', '--json'], fake);
    expect(fake.starts).toEqual([
      {
        args: [{ backup_type: 'daily', upload_to_s3: false, cleanup_old: true, dry_run: false, format: 'plain_gzip' }],
        workflowId: 'nightly-2026-11-24',
        taskQueue: 'family-brain-backup',
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      },
    ]);
    expect(IDEMPOTENT_START).toEqual({ workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' });
    expect(stderr).toBe('fbb: backup nightly-2026-11-24 started on task queue family-brain-backup\n');
    expect(JSON.parse(stdout)).toEqual(fake.nextResult);
    expect(code).toBe(0);
  });

  it('the same ID again returns the completed run\'s result without starting another', async () => {
    const fake = new FakeTemporal();
    fake.add({ workflowId: 'nightly-2026-11-24', type: 'backupDatabase', status: 'COMPLETED', startTime: at('07:00:00'), closeTime: at('07:00:03'), result: backupResult('family_brain_daily_20261124_020000.sql.gz') });
    const { code, stdout, stderr } = await fbb(['backup', '--type', 'daily', '--workflow-id', 'nightly-2026-11-24', '--json'], fake);
    expect(fake.starts).toEqual([]);
    expect(stderr).toBe('fbb: backup nightly-2026-11-24 already finished (at 2026-11-24T07:00:03.000Z); showing its result, no second backup was made\n');
    expect((JSON.parse(stdout) as BackupResult).filename).toBe('family_brain_daily_20261124_020000.sql.gz');
    expect(code).toBe(0);
  });

  it('the same ID while it runs waits for that run', async () => {
    const fake = new FakeTemporal();
    fake.add({ workflowId: 'nightly-2026-11-24', type: 'backupDatabase', status: 'RUNNING', startTime: at('07:00:00'), result: backupResult('family_brain_daily_20261124_020000.sql.gz') });
    const { code, stderr } = await fbb(['backup', '--workflow-id', 'nightly-2026-11-24'], fake);
    expect(fake.starts).toEqual([]);
    expect(stderr).toBe('fbb: backup nightly-2026-11-24 was already running (since 2026-11-24T07:00:00.000Z); waiting for it instead of starting another\n');
    expect(code).toBe(0);
  });

  it('after a failed run, the same ID starts a new attempt (what a retry is for)', async () => {
    const fake = new FakeTemporal();
    fake.add({ workflowId: 'nightly-2026-11-24', type: 'backupDatabase', status: 'FAILED', startTime: at('07:00:00'), closeTime: at('07:00:01'), failure: ApplicationFailure.create({ type: 'DumpFailed', message: 'x' }) });
    fake.nextResult = backupResult('family_brain_daily_20261124_021000.sql.gz');
    const { code, stderr } = await fbb(['backup', '--workflow-id', 'nightly-2026-11-24'], fake);
    expect(fake.starts).toHaveLength(1);
    expect(stderr).toBe('fbb: backup nightly-2026-11-24 started on task queue family-brain-backup\n');
    expect(code).toBe(0);
  });

  it('an ID that names a run of the other workflow is bad input (exit 2)', async () => {
    const fake = lastNight();
    const { code, stderr } = await fbb(['backup', '--workflow-id', 'restore-family_brain-20261124T101500Z'], fake);
    expect(stderr).toBe('fbb: workflow ID restore-family_brain-20261124T101500Z belongs to a restoreDatabase run, not backupDatabase; nothing was started; choose another --workflow-id\n');
    expect(fake.starts).toEqual([]);
    expect(code).toBe(2);
  });

  it('a restore with the ID of one waiting for confirmation follows it and says how to confirm; --json prints its status', async () => {
    const fake = lastNight();
    const id = 'restore-family_brain-20261124T120000Z';
    const json = await fbb(['restore', 'family_brain_daily_20261123_020000.sql.gz', '--workflow-id', id, '--json'], fake);
    expect(json.stderr).toBe(
      `fbb: restore ${id} was already running (since 2026-11-24T12:00:00.000Z); following it instead of starting another\n` +
        `fbb: restore ${id} waits for confirmation until 2026-11-24T13:00:00.000Z: fbb restore confirm ${id} (or fbb restore cancel ${id})\n`,
    );
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'running', phase: 'awaiting_confirmation', confirm_by: '2026-11-24T13:00:00.000Z' });
    expect(json.code).toBe(0);
    const human = await fbb(['restore', 'family_brain_daily_20261123_020000.sql.gz', '--workflow-id', id], fake);
    expect(human.stdout).toMatch(new RegExp(`^restore ${id} waits for confirmation \\(until 2026-11-24T13:00:00\\.000Z\\); pre-restore backup: family_brain_pre_restore_20261124_051500\\.sql\\.gz\nconfirm with: {2}fbb restore confirm ${id}\n`));
    expect(fake.starts).toEqual([]);
    expect(fake.signals).toEqual([]);
  });

  it('a restore with a finished ID shows that restore\'s result and exit code', async () => {
    const fake = new FakeTemporal();
    fake.add({ workflowId: 'restore-drill', type: 'restoreDatabase', status: 'COMPLETED', startTime: at('10:00:00'), closeTime: at('10:01:00'), result: restoreResult({ status: 'cancelled', error: { type: 'RestoreCancelled', message: 'cancelled by grace' } }) });
    const { code, stdout, stderr } = await fbb(['restore', 'family_brain_daily_20261123_020000.sql.gz', '--workflow-id', 'restore-drill', '--json'], fake);
    expect(stderr).toBe('fbb: restore restore-drill already finished (at 2026-11-24T10:01:00.000Z); showing its result, nothing was started\n');
    expect(JSON.parse(stdout)).toMatchObject({ status: 'cancelled' });
    expect(fake.starts).toEqual([]);
    expect(code).toBe(5);
  });
});
