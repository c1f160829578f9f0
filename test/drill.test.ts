// Restore drills on the real dev server with a real worker, against local files and the shared s3rver.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { WorkflowFailedError } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import type { BackupManifest } from '../src/backup/manifest';
import { backupDatabase, restoreDrill } from '../src/workflows';
import type { BackupResult } from '../src/workflows/backupDatabase';
import { captured, createDatabase, dropDatabase, tempDir, testConfig, uniqueName, userEnvFor, withAdmin } from './helpers';
import { createTestNamespace } from './namespaces';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';
import { historyText, startReceiver, type Receiver } from './webhook';

describe('restore drills', () => {
  let database: string;
  let config: Config;
  let worker: TestWorker;
  let hook: Receiver;
  let backup: BackupResult;

  beforeAll(async () => {
    database = await createDatabase('drillsrc');
    hook = await startReceiver(uniqueName('drilltok').replace(/_/g, 'x'));
    config = onTemporal({ ...testConfig({ database, s3: true }), notify: { webhookUrls: [hook.url], on: 'failure' } });
    worker = await startTestWorker(config);
    const client = await testClient();
    backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wf-drill-backup'), args: [{ backup_type: 'manual', upload_to_s3: true, cleanup_old: false }] });
  });
  afterAll(async () => {
    await worker?.stop();
    await hook?.stop();
    await dropDatabase(database);
  });

  const env = () => ({ ...userEnvFor(config), TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_NAMESPACE: config.temporal.namespace, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue });
  async function fbb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const io = captured();
    const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env: env() });
    return { code, ...io.text() };
  }
  const drillDatabases = () => withAdmin(async (c) => (await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname ~ '^fbb_drill_[0-9a-f]{20}$'")).rows.map((r) => r.datname));
  const drillRows = () =>
    withAdmin(async (c) => (await c.query<{ level: string; message: string; details: Record<string, unknown> }>("SELECT level, message, details FROM system_logs WHERE source = 'restore_drill' ORDER BY id")).rows, database);
  const manifestOf = (filename: string) => JSON.parse(fs.readFileSync(path.join(config.backup.dir, `${filename}.manifest.json`), 'utf8')) as BackupManifest;

  it('verification records a sample hash of every table in the manifest', () => {
    const m = manifestOf(backup.filename);
    expect(Object.keys(m.verification?.sample_hashes ?? {}).sort()).toEqual(Object.keys(m.table_details).sort());
    expect(m.verification?.sample_hashes?.tags).toMatchObject({ order: 'primary_key', md5: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it('fbb drill restores the S3 copy by default, checks every table, drops its scratch database, and is recorded in system_logs and fbb history', async () => {
    const { code, stdout, stderr } = await fbb(['drill', '--json']);
    expect(stderr).toContain('restore drill');
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { status: string; source: string; filename: string; location: string; tables_checked: number; samples_checked: number; samples_missing: string[]; rows_checked: number };
    expect(result).toMatchObject({ status: 'passed', source: 's3', filename: backup.filename, tables_checked: backup.tables_backed_up, samples_checked: backup.tables_backed_up, samples_missing: [] });
    expect(result.location).toMatch(/^s3:\/\//);
    expect(result.rows_checked).toBe(backup.total_rows);
    expect(await drillDatabases()).toEqual([]);
    expect(fs.readdirSync(config.backup.dir).filter((f) => f.startsWith('.fbb_drill'))).toEqual([]);

    const rows = await drillRows();
    expect(rows.at(-1)).toMatchObject({ level: 'info', message: `restore drill of ${backup.filename} (s3) passed`, details: { status: 'passed', filename: backup.filename } });

    const history = await fbb(['history', '--type', 'drill', '--json']);
    const entries = JSON.parse(history.stdout) as { kind: string; status: string; summary: unknown }[];
    expect(entries[0]).toMatchObject({ kind: 'drill', status: 'completed', summary: { drill_status: 'passed', drilled: backup.filename, source: 's3' } });
    expect(hook.received).toHaveLength(0);
  });

  // Found by the soak (seed 2525, drill × disk): the S3 copy is fetched into BACKUP_DIR, and a full one failed the drill with a bare "Error: ENOSPC".
  it('fbb drill of the S3 copy on a worker whose BACKUP_DIR is full fails BackupDirFull, naming the folder, and leaves nothing behind', async () => {
    const disk = tempDir('drill-full');
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', disk]);
    let full: TestWorker | undefined;
    try {
      await execa('sh', ['-c', `dd if=/dev/zero of=${disk}/filler bs=4k 2>/dev/null || true`]);
      const onFull: Config = { ...config, backup: { ...config.backup, dir: disk }, temporal: { ...config.temporal, taskQueue: uniqueName('drill-full') } };
      full = await startTestWorker(onFull);
      const io = captured();
      const code = await runCli(['drill', '--source', 's3'], { stdout: io.stdout, stderr: io.stderr, env: { ...env(), TEMPORAL_TASK_QUEUE: onFull.temporal.taskQueue } });
      expect(code, io.text().stderr).toBe(1);
      expect(io.text().stderr).toContain(`BackupDirFull: ${disk} is full (ENOSPC: no space left on device`);
      expect(fs.readdirSync(disk)).toEqual(['filler']);
      expect(await drillDatabases()).toEqual([]);
    } finally {
      await full?.stop();
      await execa('umount', ['-l', disk]);
    }
  });

  it('fbb drill --source local restores the local copy and prints what it checked', async () => {
    const { code, stdout } = await fbb(['drill', '--source', 'local']);
    expect(code).toBe(0);
    expect(stdout).toContain(`restore drill of ${backup.filename}: passed`);
    expect(stdout).toContain(path.join(config.backup.dir, backup.filename));
    expect(stdout).toContain(`${backup.tables_backed_up} tables' sampled rows match the verified ones`);
    expect(await drillDatabases()).toEqual([]);
  });

  describe('a backup whose rows were changed after verification', () => {
    // Each tampering test works on a copy of the backup under a newer name, so the others keep the intact one.
    function tamperedCopy(fixManifest: boolean): string {
      const name = backup.filename.replace(/_(\d{8})_(\d{6})/, (_m, d: string) => `_${d}_235959`);
      const sql = zlib.gunzipSync(fs.readFileSync(path.join(config.backup.dir, backup.filename))).toString('utf8');
      const lines = sql.split('\n');
      const copy = lines.findIndex((l) => l.startsWith('COPY public.tags '));
      const fields = lines[copy + 1]!.split('\t');
      fields[2] = `${fields[2]}_tampered`;
      lines[copy + 1] = fields.join('\t');
      const gz = zlib.gzipSync(Buffer.from(lines.join('\n')));
      fs.writeFileSync(path.join(config.backup.dir, name), gz);
      const manifest = { ...manifestOf(backup.filename), filename: name };
      if (fixManifest) Object.assign(manifest, { sha256: createHash('sha256').update(gz).digest('hex'), size_bytes: gz.length });
      fs.writeFileSync(path.join(config.backup.dir, `${name}.manifest.json`), JSON.stringify(manifest));
      return name;
    }

    it('fails the drill on its checksum when only the file changed, notifies, and records the failure', async () => {
      const name = tamperedCopy(false);
      try {
        const client = await testClient();
        const handle = await client.workflow.start(restoreDrill, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('wf-drill-bad'), args: [{ source: 'local' }] });
        const err = await handle.result().then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(WorkflowFailedError);
        expect(historyText(await handle.fetchHistory())).toContain('BackupCorrupted');
        const sent = hook.received.at(-1)!.body;
        expect(sent).toMatchObject({ kind: 'drill', outcome: 'failure', workflow_type: 'restoreDrill', workflow_id: handle.workflowId, backup_file: name, error: { type: 'BackupCorrupted' } });
        expect(sent.text).toContain(`drill of ${database} FAILED (${name})`);
        expect(sent.next_step).toContain('fbb drill');
        expect((await drillRows()).at(-1)).toMatchObject({ level: 'error', details: { filename: name, error_type: 'BackupCorrupted' } });
        expect(await drillDatabases()).toEqual([]);
      } finally {
        fs.rmSync(path.join(config.backup.dir, name), { force: true });
        fs.rmSync(path.join(config.backup.dir, `${name}.manifest.json`), { force: true });
      }
    });

    it('fails the drill on the sample hashes when the manifest was made to match the changed file: every count is right, the rows are not', async () => {
      const name = tamperedCopy(true);
      try {
        const before = hook.received.length;
        const { code, stderr, stdout } = await fbb(['drill', '--source', 'local', '--json']);
        expect(code).toBe(1);
        expect(stderr).toContain('DrillFailed');
        expect(stderr).toContain('tags: the first');
        expect(JSON.parse(stdout)).toMatchObject({ status: 'error', error: { type: 'DrillFailed' } });
        expect(hook.received).toHaveLength(before + 1);
        expect(hook.received.at(-1)!.body).toMatchObject({ kind: 'drill', backup_file: name, error: { type: 'DrillFailed' } });
        expect(await drillDatabases()).toEqual([]);
        const history = JSON.parse((await fbb(['history', '--type', 'drill', '--json'])).stdout) as { status: string; error: { type: string } | null }[];
        expect(history[0]).toMatchObject({ status: 'failed', error: { type: 'DrillFailed' } });
      } finally {
        fs.rmSync(path.join(config.backup.dir, name), { force: true });
        fs.rmSync(path.join(config.backup.dir, `${name}.manifest.json`), { force: true });
      }
    });
  });

  it('fbb schedules apply creates the drill schedule on the server, beside the three backups: weekly, restoreDrill, overlap SKIP', async () => {
    // A namespace of this test's own: schedule IDs are fixed, and the server is shared.
    const { namespace, client } = await createTestNamespace('drillsched');
    const io = captured();
    const code = await runCli(['schedules', 'apply'], { stdout: io.stdout, stderr: io.stderr, env: { ...env(), TEMPORAL_NAMESPACE: namespace } });
    expect(code, io.text().stderr).toBe(0);
    expect(io.text().stdout).toContain('schedule_restore_drill');
    const described = await client.schedule.getHandle('schedule_restore_drill').describe();
    expect(described.action).toMatchObject({ type: 'startWorkflow', workflowType: 'restoreDrill', taskQueue: config.temporal.taskQueue, workflowId: `drill-${database}` });
    expect(described.spec.calendars?.[0]).toMatchObject({ dayOfWeek: [{ start: 'SUNDAY', end: 'SUNDAY', step: 1 }], hour: [{ start: 5, end: 5, step: 1 }] });
    expect(described.spec.timezone).toBe(config.schedules.timezone);
    expect(described.policies.overlap).toBe('SKIP');
    for (const id of ['schedule_daily_backup', 'schedule_weekly_backup', 'schedule_monthly_backup']) expect((await client.schedule.getHandle(id).describe()).action).toMatchObject({ workflowType: 'backupDatabase' });
  });
});
