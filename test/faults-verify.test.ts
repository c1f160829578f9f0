// Issue 12: the server stopped (pg_ctl -m immediate) while a backup is being verified, on a
// throwaway cluster (never the shared one). The outage is not the backup's fault.
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createActivities } from '../src/activities';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import { backupFilename } from '../src/backup/naming';
import type { Config } from '../src/config';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { runActivity, tempDir, testConfig, withServer } from './helpers';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

let cluster: PgCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

const asPostgres = (tool: string, args: string[]) => execa('runuser', ['-u', 'postgres', '--', path.join(cluster!.binDir, tool), ...args]);

/** Starts the stopped throwaway cluster again on its port, as startPgCluster did. */
async function restart(): Promise<void> {
  const options = `-p ${cluster!.port} -k ${path.dirname(cluster!.dataDir)} -c listen_addresses=127.0.0.1 -c fsync=off`;
  await asPostgres('pg_ctl', ['-D', cluster!.dataDir, '-o', options, '-l', path.join(path.dirname(cluster!.dataDir), 'server.log'), '-w', 'start']);
}

const scratchDatabases = async () =>
  (await withServer(cluster!, 'postgres', (c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_verify_%'"))).rows.map((r) => r.datname);

/** Returns once one of our sessions is connected to a scratch database (psql restoring into it). */
async function untilRestoringIntoScratch(): Promise<void> {
  for (;;) {
    const { rows } = await withServer(cluster!, 'postgres', (c) => c.query("SELECT 1 FROM pg_stat_activity WHERE datname LIKE 'fbb_verify_%' AND application_name = 'family-brain-backup'"));
    if (rows.length > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('a server stopped during verification', () => {
  it('is a retryable DatabaseUnreachable that keeps the backup unverified, and the next attempt drops the scratch database and verifies', async () => {
    cluster = await startPgCluster();
    await withServer(cluster, 'postgres', (c) => c.query('CREATE DATABASE family_brain'));
    await withServer(cluster, 'family_brain', (c) => loadSampleDatabase(c, { scale: 4 }));
    const base = testConfig({ verify: 'after_dump' });
    const config: Config = { ...base, database: { ...base.database, host: cluster.host, port: cluster.port, password: cluster.password, database: 'family_brain' } };
    const activities = createActivities({ config });
    const filename = backupFilename('family_brain', 'daily', new Date(), 'UTC');
    await runActivity(activities.dumpDatabase, { filename, type: 'daily', format: 'plain_gzip', workflowId: 'verify-outage' });

    const verifying = runActivity(activities.verifyBackup, filename).catch((e: unknown) => e);
    // The moment: psql is restoring into the scratch database.
    await untilRestoringIntoScratch();
    await asPostgres('pg_ctl', ['-D', cluster.dataDir, '-m', 'immediate', '-w', 'stop']);
    const err = await verifying;

    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('DatabaseUnreachable');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toMatch(
      new RegExp(`^the database server at 127\\.0\\.0\\.1:${cluster.port} stopped answering while backup "${filename}" was being verified; the backup was not judged and is kept unverified; the next attempt drops the scratch database fbb_verify_[0-9a-f]{20} and verifies again`),
    );
    // Not blamed: still its own name, manifest still "dumped".
    const manifest = JSON.parse(fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8')) as BackupManifest;
    expect(manifest.status).toBe('dumped');
    expect(fs.existsSync(path.join(config.backup.dir, filename))).toBe(true);

    await restart();
    expect(await scratchDatabases()).toHaveLength(1);
    const verified = await runActivity(activities.verifyBackup, filename);
    expect(verified.status).toBe('verified');
    expect(await scratchDatabases()).toEqual([]);
  });
});

describe('a server stopped during the verification in the same pass as the dump (BACKUP_VERIFY=during_dump)', () => {
  it('is a retryable DatabaseConnectionLost that leaves no file; after the restart the next attempt drops the scratch database and makes a verified backup', async () => {
    cluster ??= await startPgCluster();
    await withServer(cluster, 'postgres', (c) => c.query('CREATE DATABASE family_brain_pass'));
    await withServer(cluster, 'family_brain_pass', (c) => loadSampleDatabase(c, { scale: 4 }));
    const base = testConfig({ verify: 'during_dump' });
    const config: Config = { ...base, database: { ...base.database, host: cluster.host, port: cluster.port, password: cluster.password, database: 'family_brain_pass' } };
    const activities = createActivities({ config });
    const filename = backupFilename('family_brain', 'daily', new Date(), 'UTC');
    const request = { filename, type: 'daily' as const, format: 'plain_gzip' as const, workflowId: 'pass-outage' };

    const passing = runActivity(activities.dumpDatabase, request).catch((e: unknown) => e);
    // The moment: psql is restoring into the scratch database while pg_dump writes.
    await untilRestoringIntoScratch();
    await asPostgres('pg_ctl', ['-D', cluster.dataDir, '-m', 'immediate', '-w', 'stop']);
    const err = await passing;

    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(['DatabaseConnectionLost', 'DatabaseUnreachable']).toContain(failure.type);
    expect(failure.nonRetryable).toBe(false);
    // Nothing that looks like a backup; the scratch database could not be dropped (the server is down),
    // so its record stays: the partial file it is named after, emptied.
    const left = fs.readdirSync(config.backup.dir).filter((f) => !f.includes('.lock'));
    expect(left).toEqual([expect.stringMatching(new RegExp(`^\\.${filename.replace(/\./g, '\\.')}\\.partial-[0-9a-f]{8}$`))]);
    expect(fs.statSync(path.join(config.backup.dir, left[0]!)).size).toBe(0);

    await restart();
    expect(await scratchDatabases()).toHaveLength(1);
    const verified = await runActivity(activities.dumpDatabase, request);
    expect(verified).toMatchObject({ status: 'verified', verification: { ok: true, method: 'restore_during_dump' } });
    expect(await scratchDatabases()).toEqual([]);
    expect(fs.readdirSync(config.backup.dir).filter((f) => !f.includes('.lock')).sort()).toEqual([filename, manifestName(filename)]);
  });

  // Found by the soak (seed 202, cycle 45): the pre-restore backup of a tenant restore, verified as it
  // was dumped, when the server restarted; the restore failed and never retried that backup, its
  // partial file was removed while the scratch database could not be dropped, and no later run knew
  // the database's name: fbb_verify_* stayed for good.
  it('leaves a scratch database that the next operation on the database drops when the failed backup is never retried', async () => {
    cluster ??= await startPgCluster();
    await withServer(cluster, 'postgres', (c) => c.query('CREATE DATABASE family_brain_gone'));
    await withServer(cluster, 'family_brain_gone', (c) => loadSampleDatabase(c, { scale: 4 }));
    const base = testConfig({ verify: 'during_dump' });
    const config: Config = { ...base, database: { ...base.database, host: cluster.host, port: cluster.port, password: cluster.password, database: 'family_brain_gone' } };
    const activities = createActivities({ config });
    const filename = backupFilename('family_brain', 'pre_restore', new Date(), 'UTC');
    const passing = runActivity(activities.dumpDatabase, { filename, type: 'pre_restore' as const, format: 'plain_gzip' as const, workflowId: 'gone-outage' }).catch((e: unknown) => e);
    await untilRestoringIntoScratch();
    await asPostgres('pg_ctl', ['-D', cluster.dataDir, '-m', 'immediate', '-w', 'stop']);
    expect(await passing).toBeInstanceOf(ApplicationFailure);
    await restart();
    expect(await scratchDatabases()).toHaveLength(1);

    // The next operation (any backup or restore of this database) takes the lock, and sweeps.
    const lock = await runActivity(activities.acquireBackupLock, { workflow_id: 'next-operation', kind: 'backup' });
    await runActivity(activities.releaseBackupLock, 'next-operation');
    expect(lock.cleaned.map((l) => [l.kind, l.removed])).toEqual([
      ['partial_file', true],
      ['scratch_database', true],
    ]);
    expect(await scratchDatabases()).toEqual([]);
    expect(fs.readdirSync(config.backup.dir).filter((f) => !f.includes('.lock'))).toEqual([]);
  });
  // Issue 26 (found by the soak, seed 707 cycles 21, 25, 36, BACKUP_DIR per host): the name of a
  // verification's scratch database hashes its host's directory, so a backup on another host never
  // knew it, and it stayed until a run came back to that host. Runs claim theirs while they use them
  // (src/activities/scratchClaim.ts); the sweep drops what no run claims.
  it('left on the server by a verification on another host (its own BACKUP_DIR, never retried there) is dropped by the next backup on this host: no run claims it', async () => {
    cluster ??= await startPgCluster();
    await withServer(cluster, 'postgres', (c) => c.query('CREATE DATABASE family_brain_hosts'));
    await withServer(cluster, 'family_brain_hosts', (c) => loadSampleDatabase(c, { scale: 4 }));
    const base = testConfig({ verify: 'during_dump' });
    const hostA: Config = { ...base, database: { ...base.database, host: cluster.host, port: cluster.port, password: cluster.password, database: 'family_brain_hosts' } };
    const hostB: Config = { ...hostA, backup: { ...hostA.backup, dir: tempDir('host-b') } };
    const filename = backupFilename('family_brain', 'manual', new Date(), 'UTC');
    const passing = runActivity(createActivities({ config: hostA }).dumpDatabase, { filename, type: 'manual' as const, format: 'plain_gzip' as const, workflowId: 'on-host-a' }).catch((e: unknown) => e);
    await untilRestoringIntoScratch();
    await asPostgres('pg_ctl', ['-D', cluster.dataDir, '-m', 'immediate', '-w', 'stop']);
    expect(await passing).toBeInstanceOf(ApplicationFailure);
    await restart();
    const left = await scratchDatabases();
    expect(left).toHaveLength(1);

    const onB = createActivities({ config: hostB });
    const lock = await runActivity(onB.acquireBackupLock, { workflow_id: 'on-host-b', kind: 'backup' });
    await runActivity(onB.releaseBackupLock, 'on-host-b');
    expect(lock.cleaned).toEqual([{ kind: 'scratch_database', name: left[0], removed: true }]);
    expect(await scratchDatabases()).toEqual([]);
    // Host A keeps its record (the emptied partial file) until a run there removes it; the database it names is gone.
    expect(fs.readdirSync(hostA.backup.dir).filter((f) => f.includes('.partial-'))).toHaveLength(1);
  });
});
