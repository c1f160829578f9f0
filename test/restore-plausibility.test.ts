// Issue 21 item 1: a backup that looks wrong for the live database (empty, of another database,
// a small fraction of its rows, cut off; with or without manifest) is refused before anything
// changes, or with --force restored only after a confirmation that shows why; on the real dev
// server with real Workers.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libpqEnv } from '../src/activities/pgTools';
import { prepareRestore } from '../src/activities/restore/prepare';
import { runCli } from '../src/client/cli';
import { applicationFailureOf } from '../src/client/failures';
import type { Config } from '../src/config';
import { diffFingerprints } from './compare';
import { backupDatabase, cancelRestore, confirmRestore, restoreDatabase, restoreDrill, restoreTable, restoreTenant } from '../src/workflows';
import { temporalDriver } from './drivers';
import { captured, createDatabase, dropDatabasesLike, fingerprint, testConfig, uniqueName, userEnvFor, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient } from './temporal';

const driver = temporalDriver();
const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');
afterAll(async () => {
  await driver.release();
  await dropDatabasesLike('fbb_pl');
});

const innermost = applicationFailureOf;

const LEGACY = 'family_brain_daily_20251208_020000.sql.gz';

/** Runs `script` (bash, pipefail) with libpq pointed at `database`. */
async function sh(config: Config, database: string, script: string): Promise<void> {
  await execa('bash', ['-o', 'pipefail', '-c', script], { env: { ...libpqEnv({ ...config.database, database }), PATH: process.env.PATH ?? '' }, extendEnv: false });
}

/** Windmill-era files (no manifest), each written into `config`'s backup directory as LEGACY. */
const legacyFiles: Record<string, (config: Config, file: string) => Promise<void>> = {
  'an empty gzip': async (_config, file) => fs.writeFileSync(file, zlib.gzipSync(Buffer.alloc(0))),
  "another database's dump": async (config, file) => {
    const other = await createDatabase('pl_other', false);
    await withAdmin((c) => c.query('CREATE TABLE widgets (id int PRIMARY KEY, name text); INSERT INTO widgets SELECT g, md5(g::text) FROM generate_series(1, 3000) g'), other);
    await sh(config, other, `"${config.pgBinDir}/pg_dump" | gzip > "${file}"`);
  },
  'a dump of one small table': async (config, file) => sh(config, config.database.database, `"${config.pgBinDir}/pg_dump" -t public.tenants | gzip > "${file}"`),
  'a dump cut right after its last COPY block': async (config, file) => {
    const { stdout } = await execa(`${config.pgBinDir}/pg_dump`, [], { env: libpqEnv(config.database), extendEnv: false });
    const lines = stdout.split('\n');
    const cut = lines.lastIndexOf('\\.');
    fs.writeFileSync(file, zlib.gzipSync(`${lines.slice(0, cut + 1).join('\n')}\n`));
  },
};

const REFUSED: [string, string, RegExp][] = [
  ['an empty gzip', 'BackupEmpty', /^backup "family_brain_daily_20251208_020000\.sql\.gz" holds no tables \(20 B and lacks pg_dump's closing line "-- PostgreSQL database dump complete"\); restoring it would replace database fbb_pl_\w+ \(15 tables, [\d,]+ rows\) with an empty one; nothing was changed; if you are sure, restore it with --force/],
  ["another database's dump", 'BackupUnrelated', /^none of the 1 tables in backup "family_brain_daily_20251208_020000\.sql\.gz" \(widgets\) is in database fbb_pl_\w+: it looks like a backup of another database; restoring it would replace database fbb_pl_\w+ \(15 tables, [\d,]+ rows\) and all of its tables \(ai_usage, api_keys, chat_messages, chat_sessions, document_chunks, … \(15 in all\)\); nothing was changed; if you are sure, restore it with --force/],
  ['a dump of one small table', 'BackupTooSmall', /^backup "family_brain_daily_20251208_020000\.sql\.gz" holds 5 rows in 1 tables, 0\.\d% of the [\d,]+ rows in database fbb_pl_\w+ \(15 tables, [\d,]+ rows\); it lacks 14 of its tables \(.*\); restoring it would replace database .*, losing about [\d,]+ rows; nothing was changed/],
  ['a dump cut right after its last COPY block', 'BackupTruncated', /^backup "family_brain_daily_20251208_020000\.sql\.gz" is incomplete: it lacks pg_dump's closing line "-- PostgreSQL database dump complete" \(cut off while it was written or copied; what follows the cut, such as indexes, constraints and later tables, is missing\); it holds 15 tables and [\d,]+ rows; .*; nothing was changed/],
];

describe('a Windmill-era file (no manifest) that looks wrong', () => {
  it.each(REFUSED)('%s is refused with %s before anything runs, the database unchanged', async (what, type, message) => {
    const db = await createDatabase('pl_legacy');
    const config = testConfig({ database: db });
    await legacyFiles[what]!(config, path.join(config.backup.dir, LEGACY));
    const before = await fingerprint(db);
    const handle = await (await driver.runner(config)).start(restoreDatabase, { args: [{ backup_filename: LEGACY, confirm_restore: true }], workflowId: workflowId('pl-legacy') });
    const failure = innermost(await handle.result().catch((e: unknown) => e));
    expect(failure?.type).toBe(type);
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toMatch(message);
    // Refused in the first step: no pre-restore backup, no restore.
    expect(handle.attempts()).toEqual(['backupSettings:completed', 'acquireBackupLock:completed', 'prepareRestore:failed', 'releaseBackupLock:completed']);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });

  it.each([
    ['restoreTenant', 'an empty gzip', 'BackupEmpty'],
    ['restoreTable', "another database's dump", 'BackupUnrelated'],
  ] as const)('%s refuses %s too (%s), the database unchanged', async (kind, what, type) => {
    const db = await createDatabase('pl_partial');
    const config = testConfig({ database: db });
    await legacyFiles[what]!(config, path.join(config.backup.dir, LEGACY));
    const before = await fingerprint(db);
    const tenant = (await withAdmin((c) => c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug LIMIT 1'), db)).rows[0]!.id;
    const runner = await driver.runner(config);
    const run =
      kind === 'restoreTenant'
        ? runner.execute(restoreTenant, { args: [{ backup_filename: LEGACY, tenant_id: tenant, confirm_restore: true }], workflowId: workflowId('pl-tenant') })
        : runner.execute(restoreTable, { args: [{ backup_filename: LEGACY, table: 'public.tenants', confirm_restore: true }], workflowId: workflowId('pl-table') });
    const failure = innermost(await run.catch((e: unknown) => e));
    expect(failure?.type).toBe(type);
    expect(failure?.message).toContain('; nothing was changed; if you are sure, restore it with --force (input "force": true): the restore then waits for a confirmation that shows this');
    // Nothing was loaded either: no scratch copy was made.
    expect((await withAdmin((c) => c.query('SELECT 1 FROM pg_database WHERE datname LIKE $1', [`${db}_partial_%`]))).rowCount).toBe(0);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
  });

  it('with force: waits for a confirmation whose status shows what will be lost; confirmed, it restores', async () => {
    const db = await createDatabase('pl_force');
    const config = testConfig({ database: db });
    await legacyFiles['an empty gzip']!(config, path.join(config.backup.dir, LEGACY));
    const before = await fingerprint(db);
    const runner = await driver.runner(config);

    const inAdvance = await runner.start(restoreDatabase, { args: [{ backup_filename: LEGACY, force: true, confirm_restore: true }], workflowId: workflowId('pl-force') });
    const refused = innermost(await inAdvance.result().catch((e: unknown) => e));
    expect(refused?.type).toBe('BackupEmpty');
    expect(refused?.message).toMatch(/; nothing was changed; --force \(force: true\) restores it only after a confirmation that shows this: run it without --yes \(confirm_restore: false\) and confirm when asked$/);
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);

    const handle = await runner.start(restoreDatabase, { args: [{ backup_filename: LEGACY, force: true, create_pre_restore_backup: false }], workflowId: workflowId('pl-force') });
    const waiting = await handle.awaitingConfirmation();
    expect(waiting.backup).toEqual({
      database: null,
      created_at: '2025-12-08T07:00:00.000Z',
      size_bytes: 20,
      tables: 0,
      rows: 0,
      live: { database: db, tables: 15, rows: expect.any(Number) },
      warnings: [expect.stringMatching(/^BackupEmpty: backup "family_brain_daily_20251208_020000\.sql\.gz" holds no tables .*; restoring it would replace database fbb_pl_force_\w+ \(15 tables, [\d,]+ rows\) with an empty one$/)],
    });
    expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
    await handle.signal(confirmRestore, { confirmed_by: 'grace' });
    expect(await handle.result()).toMatchObject({ status: 'success', confirmed_by: 'grace' });
    expect((await fingerprint(db)).tables).toEqual({});
  });
});

describe('a backup of another database (its manifest says so)', () => {
  let source: string;
  let target: string;
  let config: Config;
  let filename: string;
  beforeAll(async () => {
    source = await createDatabase('pl_oddsrc');
    target = await createDatabase('pl_target');
    const sourceConfig = testConfig({ database: source });
    filename = (await (await driver.runner(sourceConfig)).execute(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('pl-odd-backup') })).filename;
    config = testConfig({ database: target, backupDir: sourceConfig.backup.dir });
  });

  it('is refused unless named: BackupFromOtherDatabase, the database unchanged', async () => {
    const before = await fingerprint(target);
    const handle = await (await driver.runner(config)).start(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId('pl-odd') });
    const failure = innermost(await handle.result().catch((e: unknown) => e));
    expect(failure?.type).toBe('BackupFromOtherDatabase');
    expect(failure?.message).toBe(
      `backup "${filename}" is of database ${source} (its manifest says so, made ${JSON.parse(fs.readFileSync(path.join(config.backup.dir, `${filename}.manifest.json`), 'utf8')).created_at}), not of ${target}, which it would replace; ` +
        `if you mean to put ${source}'s data into ${target}, name it: --from-database ${source} (input "from_database": "${source}"); nothing was changed`,
    );
    expect(handle.attempts()).toEqual(['backupSettings:completed', 'acquireBackupLock:completed', 'prepareRestore:failed', 'releaseBackupLock:completed']);
    expect(diffFingerprints(before, await fingerprint(target))).toEqual([]);
  });

  it('named with from_database, waits for a confirmation whose status shows the source database, its time and size', async () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(config.backup.dir, `${filename}.manifest.json`), 'utf8')) as { created_at: string; size_bytes: number; total_rows: number };
    const handle = await (await driver.runner(config)).start(restoreDatabase, { args: [{ backup_filename: filename, from_database: source, create_pre_restore_backup: false }], workflowId: workflowId('pl-odd') });
    const waiting = await handle.awaitingConfirmation();
    expect(waiting.backup).toMatchObject({ database: source, created_at: manifest.created_at, size_bytes: manifest.size_bytes, tables: 15, rows: manifest.total_rows, warnings: [`the backup is of database ${source} (named with from_database), not of ${target}`] });
    // fbb status shows the same while the restore waits.
    const io = captured();
    const env = { ...userEnvFor(config), TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace };
    expect(await runCli(['status', handle.workflowId], { stdout: io.stdout, stderr: io.stderr, env })).toBe(0);
    expect(io.text().stdout).toMatch(new RegExp(`\n {2}restoring from +backup of ${source}, made ${manifest.created_at.replace(/\./g, '\\.')}, [\\d.]+ MiB, 15 tables, [\\d,]+ rows; ${target} now holds 15 tables, [\\d,]+ rows\n {2}WARNING +the backup is of database ${source} \\(named with from_database\\), not of ${target}\n`));
    await handle.signal(cancelRestore, { cancelled_by: 'test' });
    expect(await handle.result()).toMatchObject({ status: 'cancelled' });
  });

  it('fbb restore --from-database shows the source, its time and size at the typed-name prompt', async () => {
    const onServer = onTemporal(config);
    const worker = await startTestWorker(onServer);
    try {
      const env = { ...userEnvFor(onServer), TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace, TEMPORAL_TASK_QUEUE: onServer.temporal.taskQueue };
      const io = captured();
      const asked: string[] = [];
      const code = await runCli(['restore', filename, '--from-database', source, '--no-pre-restore-backup'], { stdout: io.stdout, stderr: io.stderr, env, prompt: async (q) => (asked.push(q), 'no') });
      expect(code).toBe(5);
      expect(asked).toEqual([expect.stringMatching(new RegExp(`^Type the database name \\(${target}\\) to replace it with ${filename} \\(backup of ${source}, made \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, [\\d.]+ MiB\\): $`))]);
      expect(io.text().stderr).toContain(`fbb: WARNING: the backup is of database ${source} (named with from_database), not of ${target}\n`);
    } finally {
      await worker.stop();
    }
  });

  it('a drill of this database does not pick it', async () => {
    const client = await testClient();
    const onServer = onTemporal(config);
    const worker = await startTestWorker(onServer);
    try {
      const err = await client.workflow.execute(restoreDrill, { taskQueue: onServer.temporal.taskQueue, workflowId: workflowId('pl-drill'), args: [{ source: 'local' }] }).catch((e: unknown) => e);
      const failure = innermost(err);
      expect(failure?.type).toBe('BackupNotFound');
      expect(failure?.message).toMatch(new RegExp(`^no verified backup of ${target} in .* to drill \\(1 backup file\\(s\\) there, none verified of database ${target}: the verified ones are of ${source}\\)`));
    } finally {
      await worker.stop();
    }
  });
});

describe('a restore drill', () => {
  it('of a verified backup that holds no tables fails: it proves nothing', async () => {
    const empty = await createDatabase('pl_drill_empty', false);
    const config = testConfig({ database: empty });
    const runner = await driver.runner(config);
    const backup = await runner.execute(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('pl-drill-backup') });
    expect(backup.tables_backed_up).toBe(0);
    const failure = innermost(await runner.execute(restoreDrill, { args: [{ source: 'local' }], workflowId: workflowId('pl-drill') }).catch((e: unknown) => e));
    expect(failure?.type).toBe('DrillFailed');
    expect(failure?.message).toBe(`restore drill of ${path.join(config.backup.dir, backup.filename)}: the backup holds no tables, so restoring it proves nothing; check that the database it was made of (${empty}) is the one to back up, then make a new backup and drill it`);
  });
});

describe('the scan of a Windmill-era file', () => {
  it('heartbeats while it reads the dump', async () => {
    const db = await createDatabase('pl_beat');
    const config = testConfig({ database: db });
    await sh(config, db, `"${config.pgBinDir}/pg_dump" | gzip > "${path.join(config.backup.dir, LEGACY)}"`);
    const beats: unknown[] = [];
    const env = new MockActivityEnvironment({ attempt: 1 });
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const prepared = (await env.run(() => prepareRestore(config, LEGACY, 'local'))) as Awaited<ReturnType<typeof prepareRestore>>;
    expect(prepared.has_manifest).toBe(false);
    expect(beats).toContainEqual({ step: 'scan', bytes: expect.any(Number) });
  });
});
