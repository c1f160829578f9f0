// The `temporal` command lines of README.md and docs/operations.md, run as a user types them: each
// line verbatim through bash with the real Temporal CLI (temporalInfo.cli) against the dev server,
// a real worker on the task queue the docs name (family-brain-backup), in a namespace of this file's
// own so that no other test's worker takes its tasks. Only the docs' example workflow IDs, `<id>` and
// the example backup file name are replaced by real ones; the server's address and namespace come
// from TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE, as the docs say.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { BackupProgress, BackupResult } from '../src/workflows/backupDatabase';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { captured, createDatabase, dropDatabase, tempDir, testConfig, withAdmin } from './helpers';
import { createTestNamespace } from './namespaces';
import { startedBy } from './scheduleRuns';
import { onTemporal, startTestWorker, temporalInfo, type TestWorker } from './temporal';

const ROOT = path.join(__dirname, '..');
const TASK_QUEUE = 'family-brain-backup';

/** One `temporal ...` command line of the docs, continuation lines joined. */
interface DocCommand {
  where: string;
  command: string;
}

/** Every `temporal workflow|schedule ...` command in README.md and docs/operations.md: bash blocks and inline code. */
function docCommands(): DocCommand[] {
  const found: DocCommand[] = [];
  for (const file of ['README.md', 'docs/operations.md']) {
    const lines = fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n');
    let inBlock = false;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line.startsWith('```')) {
        inBlock = !inBlock;
        continue;
      }
      if (inBlock && /^temporal (workflow|schedule) /.test(line)) {
        let command = line;
        while (command.endsWith('\\')) command = `${command.slice(0, -1)}${lines[++i]!}`;
        found.push({ where: `${file}:${i + 1}`, command });
      } else if (!inBlock) {
        for (const m of line.matchAll(/`(temporal (?:workflow|schedule) [^`]+)`/g)) found.push({ where: `${file}:${i + 1}`, command: m[1]! });
      }
    }
  }
  return found;
}

const commands = docCommands();
const ran = new Set<DocCommand>();

/**
 * The documented command in `file` matching `pattern` (the `nth` one of `count` such, in the order of the
 * file, for a line the docs repeat in two sections); fails naming what the docs hold when they differ.
 */
function doc(file: string, pattern: RegExp, { nth = 0, count = 1 } = {}): string {
  const matches = commands.filter((c) => c.where.startsWith(`${file}:`) && pattern.test(c.command));
  if (matches.length !== count) {
    throw new Error(`expected ${count} command(s) in ${file} matching ${pattern}, found ${matches.length}:\n${commands.map((c) => `  ${c.where}: ${c.command}`).join('\n')}`);
  }
  ran.add(matches[nth]!);
  return matches[nth]!.command;
}

let namespace: string;
let client: Client;
let database: string;
let backupDir: string;
let worker: TestWorker;
let cliEnv: NodeJS.ProcessEnv;

beforeAll(async () => {
  ({ namespace, client } = await createTestNamespace('docs'));
  database = await createDatabase('docs_cli');
  backupDir = tempDir();
  const config = onTemporal(testConfig({ database, backupDir, s3: true }), TASK_QUEUE);
  worker = await startTestWorker({ ...config, temporal: { ...config.temporal, namespace } });
  cliEnv = {
    HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-temporal-home-')),
    PATH: `${path.dirname(temporalInfo.cli)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    TEMPORAL_VERSION_CHECK_DISABLED: '1',
    TEMPORAL_ADDRESS: temporalInfo.address,
    TEMPORAL_NAMESPACE: namespace,
  };
});
afterAll(async () => {
  await worker?.stop();
  if (database === undefined) return;
  // Confirmed restores leave the previous database renamed aside (<db>_pre_restore_<time>).
  const aside = await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1)', [`${database}_`]));
  for (const name of [database, ...aside.rows.map((r) => r.datname)]) await dropDatabase(name);
});

/** Runs a command line through bash, as typed; `temporal` is the pinned CLI. Fails with its output when it exits non-zero. */
async function sh(command: string): Promise<string> {
  const result = await execa('bash', ['-c', command], { env: cliEnv, extendEnv: false, reject: false, timeout: 120_000 });
  if (result.exitCode !== 0) throw new Error(`"${command}" exited ${result.exitCode}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** The workflow ID `temporal workflow start` printed. */
function startedId(output: string): string {
  const m = /WorkflowId\s+(\S+)/.exec(output);
  if (!m) throw new Error(`no WorkflowId in:\n${output}`);
  return m[1]!;
}

/** The JSON on the `Result` line `temporal workflow result|execute` print, after checking the run completed. */
function printedResult<T>(output: string): T {
  expect(output).toMatch(/^\s*Status\s+COMPLETED$/m);
  const m = /^\s*Result\s+(.*)$/m.exec(output);
  if (!m) throw new Error(`no Result line in:\n${output}`);
  return JSON.parse(m[1]!) as T;
}

/** The `Result` line `temporal workflow update execute` prints (the CLI shows an object as a Go map: `map[phase:pre_backup status:running]`). */
function updateAnswer(output: string): string {
  const m = /^\s*Result\s+(.*)$/m.exec(output);
  if (!m) throw new Error(`no Result line in:\n${output}`);
  return m[1]!;
}

/** The JSON `temporal workflow query` printed. */
function queryAnswer<T>(output: string): T {
  const start = output.search(/[[{]/);
  if (start < 0) throw new Error(`no JSON in:\n${output}`);
  const value = JSON.parse(output.slice(start)) as T;
  return Array.isArray(value) && value.length === 1 ? (value[0] as T) : value;
}

/** Waits until a restore waits for its confirmation (its pre-restore backup made). */
async function awaitingConfirmation(workflowId: string): Promise<void> {
  const handle = client.workflow.getHandle(workflowId);
  await expect.poll(async () => (await handle.query<RestoreResult>('status')).phase, { timeout: 120_000, interval: 250 }).toBe('awaiting_confirmation');
}

let manualBackup: string;

describe('backups started with the documented temporal commands', () => {
  it("README: temporal workflow start --type backupDatabase with the guide's JSON makes a verified manual backup", async () => {
    const id = startedId(await sh(doc('README.md', /--type backupDatabase/)));
    expect(id).toMatch(/^backup-family_brain-manual-\d{8}T\d{6}Z$/);
    const result: BackupResult = await client.workflow.getHandle(id).result();
    expect(result).toMatchObject({ status: 'success', backup_type: 'manual', verified: { ok: true }, uploaded: null });
    expect(fs.existsSync(path.join(backupDir, result.filename))).toBe(true);
    manualBackup = result.filename;
  });

  it('operations.md: start with upload_to_s3, the progress query, then temporal workflow result print an uploaded, verified backup', async () => {
    const id = startedId(await sh(doc('docs/operations.md', /--type backupDatabase/)));
    const progress = queryAnswer<BackupProgress>(await sh(doc('docs/operations.md', /--type progress/).replaceAll('<id>', id)));
    expect(Object.keys(progress).sort()).toEqual(['filename', 'size_bytes', 'step', 'steps_done']);
    expect(progress.step).toMatch(/^(starting|planning|dumping|verifying|uploading|pruning|recording|done)$/);
    const result = printedResult<BackupResult>(await sh(doc('docs/operations.md', /workflow result --workflow-id <id>$/, { nth: 0, count: 2 }).replaceAll('<id>', id)));
    expect(result).toMatchObject({ status: 'success', backup_type: 'manual', verified: { ok: true }, uploaded: { key: expect.stringContaining(result.filename) } });
    // The CLI prints the result it decoded; the client's copy is the same backup. (The CLI shows an empty list as null.)
    const fromClient: BackupResult = await client.workflow.getHandle(id).result();
    expect([result.filename, result.sha256, result.uploaded, result.total_rows]).toEqual([fromClient.filename, fromClient.sha256, fromClient.uploaded, fromClient.total_rows]);
  });

  it('operations.md: temporal workflow execute --type listBackups lists both backups, local and in S3', async () => {
    const catalog = printedResult<{ backups: { filename: string; type: string; state: string; locations: string[] }[] }>(await sh(doc('docs/operations.md', /--type listBackups/)));
    expect(catalog.backups.map((b) => [b.type, b.state, b.locations])).toEqual([
      ['manual', 'verified', ['local', 's3']],
      ['manual', 'verified', ['local']],
    ]);
    expect(catalog.backups[1]!.filename).toBe(manualBackup);
  });
});

describe('restores driven by the documented temporal commands', () => {
  it.each([
    ['README.md', 'signal', 'confirmRestore', 'success'],
    ['README.md', 'signal', 'cancelRestore', 'cancelled'],
    ['README.md', 'update execute', 'confirmRestore', 'success'],
    ['README.md', 'update execute', 'cancelRestore', 'cancelled'],
    ['docs/operations.md', 'signal', 'confirmRestore', 'success'],
    ['docs/operations.md', 'signal', 'cancelRestore', 'cancelled'],
    ['docs/operations.md', 'update execute', 'confirmRestore', 'success'],
    ['docs/operations.md', 'update execute', 'cancelRestore', 'cancelled'],
  ] as const)('%s: the status query shows a restore waiting; temporal workflow %s --name %s ends it %s', async (file, how, name, outcome) => {
    const start = doc('docs/operations.md', /--type restoreDatabase/).replaceAll('family_brain_daily_20261124_020000.sql.gz', manualBackup);
    const id = startedId(await sh(start));
    expect(id).toMatch(/^restore-family_brain-\d{8}T\d{6}Z$/);
    await awaitingConfirmation(id);
    const withId = (command: string) => command.replaceAll('restore-family_brain-20261124T101500Z', id).replaceAll('<id>', id);

    const status = queryAnswer<RestoreResult>(await sh(withId(doc(file, /--type status/))));
    expect(status).toMatchObject({ status: 'running', phase: 'awaiting_confirmation', restored_from: manualBackup, backup_source: 'local', confirmed_by: null, error: null });
    // The pre-restore backup is made once confirmed, right before the change.
    expect(status.pre_restore_backup).toBeNull();
    expect(Date.parse(status.confirm_by!)).toBeGreaterThan(Date.now());

    const sent = await sh(withId(doc(file, new RegExp(`^temporal workflow ${how} .*--name ${name} `))));
    if (how === 'signal') expect(sent).toContain('Signal workflow succeeded');
    // The Update's answer: the phase the restore moved to.
    else expect(updateAnswer(sent)).toBe(outcome === 'success' ? 'map[phase:pre_backup status:running]' : 'map[phase:done status:cancelled]');
    const result = printedResult<RestoreResult>(await sh(withId(doc('docs/operations.md', /workflow result --workflow-id <id>$/, { nth: 1, count: 2 }))));
    expect(result.status).toBe(outcome);
    if (outcome === 'success') {
      expect(result).toMatchObject({ phase: 'done', confirmed_by: 'grace', strategy: 'swap', verification: { ok: true } });
      expect(result.pre_restore_backup).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/);
    } else expect(result).toMatchObject({ confirmed_by: null, strategy: null, aside_database: null, pre_restore_backup: null });
  });
});

describe('the schedules through the documented temporal commands', () => {
  /** `fbb schedules apply` as the docs' environment has it: the default task queue, the test database. */
  async function applySchedules(): Promise<void> {
    const c = testConfig({ database, backupDir });
    const io = captured();
    const env = { PGHOST: c.database.host, PGPORT: String(c.database.port), PGUSER: c.database.user, PGPASSWORD: c.database.password, PGDATABASE: database, PG_BIN_DIR: c.pgBinDir, BACKUP_DIR: backupDir, TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: namespace };
    expect(await runCli(['schedules', 'apply'], { stdout: io.stdout, stderr: io.stderr, env })).toBe(0);
  }

  it('after fbb schedules apply, temporal schedule list shows the three and describe shows the Toronto calendar, SKIP and the one-day catch-up window', async () => {
    await applySchedules();
    const list = doc('docs/operations.md', /^temporal schedule list /);
    // A new schedule reaches the list (visibility) within moments: the command is run again until it does.
    await expect.poll(async () => [...(await sh(list)).matchAll(/schedule_(daily|weekly|monthly)_backup/g)].map((m) => m[0]).sort(), { timeout: 30_000, interval: 250 }).toEqual([
      'schedule_daily_backup',
      'schedule_monthly_backup',
      'schedule_weekly_backup',
    ]);
    const described = await sh(doc('docs/operations.md', /^temporal schedule describe /));
    expect(described).toMatch(/^\s*ScheduleId\s+schedule_daily_backup$/m);
    expect(described).toMatch(/^\s*Spec\s+\[\{"second":"0","minute":"0","hour":"2","dayOfMonth":"1-31","month":"1-12","dayOfWeek":"0-6","comment":"daily backup \(Windmill cron \\"0 0 2 \* \* \*\\"\)"\}\]$/m);
    expect(described).toMatch(/^\s*TimeZoneName\s+America\/Toronto$/m);
    expect(described).toMatch(/^\s*OverlapPolicy\s+Skip$/m);
    expect(described).toMatch(/^\s*CatchupWindow\s+1d 0h 0m 0s$/m);
    expect(described).toMatch(/^\s*Paused\s+false$/m);
    expect(described).toContain(`"Workflow":"backupDatabase"`);
    expect(described).toContain(`"TaskQueue":"${TASK_QUEUE}"`);
  });

  it('temporal schedule trigger makes a verified daily backup now', async () => {
    expect(await sh(doc('docs/operations.md', /^temporal schedule trigger /))).toContain('Trigger request sent');
    const workflowId = await startedBy(client, 'schedule_daily_backup');
    expect(workflowId).toMatch(new RegExp(`^backup-${database}-daily-`));
    const result: BackupResult = await client.workflow.getHandle(workflowId).result();
    expect(result).toMatchObject({ status: 'success', backup_type: 'daily', verified: { ok: true } });
    expect(fs.existsSync(path.join(backupDir, result.filename))).toBe(true);
  });

  it('temporal schedule toggle pauses and unpauses the weekly schedule, with the reason as its note', async () => {
    const weekly = client.schedule.getHandle('schedule_weekly_backup');
    await sh(doc('docs/operations.md', /^temporal schedule toggle .* --pause /));
    expect((await weekly.describe()).state).toMatchObject({ paused: true, note: 'disk replacement' });
    await sh(doc('docs/operations.md', /^temporal schedule toggle .* --unpause /));
    expect((await weekly.describe()).state).toMatchObject({ paused: false, note: 'disk replaced' });
  });

  it('temporal schedule list-matching-times shows no daily run on 8 March 2026', async () => {
    const printed = await sh(doc('docs/operations.md', /^temporal schedule list-matching-times /));
    // 02:00 in Toronto (07:00 UTC before the change, 06:00 after), each up to SCHEDULE_JITTER (5 minutes) later.
    const times = [...printed.matchAll(/\d{4}-\d\d-\d\dT\S+Z/g)].map((m) => new Date(m[0]).getTime());
    const calendar = [Date.parse('2026-03-07T07:00:00Z'), Date.parse('2026-03-09T06:00:00Z')];
    expect(times.length).toBe(2);
    times.forEach((t, i) => expect(t - calendar[i]!).toBeGreaterThanOrEqual(0));
    times.forEach((t, i) => expect(t - calendar[i]!).toBeLessThan(5 * 60_000));
  });
});

describe('the docs', () => {
  it('hold no temporal command this file did not run', () => {
    expect(commands.filter((c) => !ran.has(c)).map((c) => `${c.where}: ${c.command}`)).toEqual([]);
    expect(ran.size).toBeGreaterThanOrEqual(23);
  });
});
