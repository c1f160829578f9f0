// The runs `npm run record-histories` records: the default path of every workflow type the worker
// registers (src/workflows/index.ts), as a production worker runs it (scripts/record-histories.ts).
import type { WorkflowHandle } from '@temporalio/client';
import type { RecoveryResult } from '../src/activities/basebackup/recover';
import { lockWorkflowId } from '../src/workflows/lock';
import { cancelRestore, cancelRestoreUpdate, confirmRestore, confirmRestoreUpdate, statusQuery, stopWalArchive, walStatusQuery } from '../src/workflows';
import { eventually } from '../test/eventually';

/** What a scenario can do on the recording's server and worker. */
export interface Recording {
  /** Starts workflow `type` with `input` on the shared task queue. */
  start(type: string, id: string, input: Record<string, unknown>): Promise<WorkflowHandle>;
  /** Waits for `handle`'s result, checks its status (when given), and keeps its history as `name`. */
  record(name: string, handle: WorkflowHandle, status?: string): Promise<Record<string, unknown>>;
  /** Keeps the history of another run (e.g. a lock workflow, a child) as `name`. */
  recordRun(name: string, workflowId: string, runId: string): Promise<void>;
  /** The run IDs of the databaseLock children `handle` started, in order. */
  lockRuns(handle: WorkflowHandle): Promise<{ workflowId: string; runId: string }[]>;
  /** Runs SQL on the recording database; its rows. */
  sql<T>(text: string): Promise<T[]>;
  /** Whether the WAL archive (BACKUP_DIR/wal/<sysid>/) holds the completed segment `segment`. */
  archived(segment: string): boolean;
  /** A path that does not exist yet, in a directory the server user can reach (a restore's target). */
  newDir(label: string): string;
  /** The recording database's name, its server ("host:port") and one tenant's id. */
  database: string;
  server: string;
  tenant: string;
}

/** Waits until a restore (full or partial) waits for its confirmation. */
async function awaitingConfirmation(handle: WorkflowHandle): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    const status = await handle.query(statusQuery);
    if (status.phase === 'awaiting_confirmation') return;
    if (status.phase === 'done' || Date.now() > deadline) throw new Error(`restore ${handle.workflowId} did not wait for confirmation (phase ${status.phase})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The backups, the lock, the catalogue and doctor, the drills; returns the backup the restores use. */
export async function recordBackups(r: Recording): Promise<string> {
  const backup = await r.start('backupDatabase', 'record-backup-manual', { backup_type: 'manual' });
  const { filename } = (await r.record('backup-manual', backup, 'success')) as { filename: string };
  // The lock the backup held: a child workflow on the server, released by a signal.
  const [lock] = await r.lockRuns(backup);
  if (lock?.workflowId !== lockWorkflowId(r.database, r.server)) throw new Error(`backup-manual: expected one lock ${lockWorkflowId(r.database, r.server)}, got ${JSON.stringify(lock)}`);
  await r.recordRun('lock-released', lock.workflowId, lock.runId);
  await r.record('backup-dry-run', await r.start('backupDatabase', 'record-backup-dry-run', { dry_run: true }), 'dry_run');
  await r.record('backup-daily-s3', await r.start('backupDatabase', 'record-backup-daily-s3', { backup_type: 'daily', upload_to_s3: true }), 'success');
  await r.record('list-backups', await r.start('listBackups', 'record-list-backups', { include_s3: true }));
  await r.record('check-environment', await r.start('checkEnvironment', 'record-check-environment', { mode: 'temporal' }));
  // With S3 configured the drill restores the S3 copy; `source: local` drills the file on the worker that has it.
  await r.record('drill-s3', await r.start('restoreDrill', 'record-drill-s3', {}), 'passed');
  await r.record('drill-local', await r.start('restoreDrill', 'record-drill-local', { source: 'local' }), 'passed');
  return filename;
}

/** restoreDatabase: confirmed (signal, Update), cancelled (signal, Update), expired. */
export async function recordRestores(r: Recording, filename: string): Promise<void> {
  const confirmed = await r.start('restoreDatabase', 'record-restore-confirmed', { backup_filename: filename });
  await awaitingConfirmation(confirmed);
  await confirmed.signal(confirmRestore, { confirmed_by: 'recorder' });
  await r.record('restore-confirmed', confirmed, 'success');

  // Confirmed by the confirmRestore Update (what fbb restore confirm sends), after one it refused (which leaves no event).
  const byUpdate = await r.start('restoreDatabase', 'record-restore-confirmed-by-update', { backup_filename: filename });
  await awaitingConfirmation(byUpdate);
  const refused = await byUpdate.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'recorder', database: 'elsewhere' }] }).then(() => false, () => true);
  const answer = await byUpdate.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'recorder', database: r.database }] });
  if (!refused || answer.status !== 'running') throw new Error(`restore-confirmed-by-update: expected a refusal, then a running restore; got ${JSON.stringify({ refused, answer })}`);
  await r.record('restore-confirmed-by-update', byUpdate, 'success');

  const cancelled = await r.start('restoreDatabase', 'record-restore-cancelled', { backup_filename: filename });
  await awaitingConfirmation(cancelled);
  await cancelled.signal(cancelRestore, { cancelled_by: 'recorder', reason: 'wrong file' });
  await r.record('restore-cancelled', cancelled, 'cancelled');

  const cancelledByUpdate = await r.start('restoreDatabase', 'record-restore-cancelled-by-update', { backup_filename: filename });
  await awaitingConfirmation(cancelledByUpdate);
  await cancelledByUpdate.executeUpdate(cancelRestoreUpdate, { args: [{ cancelled_by: 'recorder', reason: 'wrong file' }] });
  await r.record('restore-cancelled-by-update', cancelledByUpdate, 'cancelled');

  await r.record('restore-expired', await r.start('restoreDatabase', 'record-restore-expired', { backup_filename: filename, confirmation_timeout: '2 seconds' }), 'expired');
}

/** restoreTenant and restoreTable: confirmed by Update and by signal, a dry run, a table beside the live one. */
export async function recordPartialRestores(r: Recording, filename: string): Promise<void> {
  const tenant = await r.start('restoreTenant', 'record-restore-tenant-confirmed', { backup_filename: filename, tenant_id: r.tenant });
  await awaitingConfirmation(tenant);
  await tenant.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'recorder', database: r.database }] });
  await r.record('restore-tenant-confirmed-by-update', tenant, 'success');
  await r.record('restore-tenant-dry-run', await r.start('restoreTenant', 'record-restore-tenant-dry-run', { backup_filename: filename, tenant_id: r.tenant, dry_run: true }), 'planned');

  const table = await r.start('restoreTable', 'record-restore-table-confirmed', { backup_filename: filename, table: 'public.reminders' });
  await awaitingConfirmation(table);
  await table.signal(confirmRestore, { confirmed_by: 'recorder' });
  await r.record('restore-table-confirmed', table, 'success');
  await r.record('restore-table-beside', await r.start('restoreTable', 'record-restore-table-beside', { backup_filename: filename, table: 'public.reminders', as: 'reminders_from_backup' }), 'success');
}

/**
 * archiveWal (started, one segment archived, stopped by its signal), baseBackup (full, taken while the
 * archive runs) and restoreToTime (a moment between two commits after the backup, into a new directory).
 */
export async function recordPhysical(r: Recording): Promise<void> {
  const archive = await r.start('archiveWal', 'record-archive-wal', {});
  // The base backup's WAL is archived only when the slot streams before the backup starts.
  const { settings } = await eventually('the archive reads its settings', () => archive.query(walStatusQuery), (s) => s.settings !== null, 60_000);
  await eventually(`slot ${settings!.slot} is streamed`, () => r.sql<{ active: boolean }>(`SELECT active FROM pg_replication_slots WHERE slot_name = '${settings!.slot}'`), (rows) => rows[0]?.active === true, 60_000);
  const base = await r.start('baseBackup', 'record-base-backup-full', {});
  await r.record('base-backup-full', base);

  await r.sql("CREATE TABLE record_pitr (label text); INSERT INTO record_pitr VALUES ('before T')");
  await new Promise((res) => setTimeout(res, 1_000));
  const [{ t }] = (await r.sql<{ t: Date }>('SELECT clock_timestamp() AS t')) as [{ t: Date }];
  await new Promise((res) => setTimeout(res, 1_000));
  await r.sql("INSERT INTO record_pitr VALUES ('after T')");
  const [{ segment }] = (await r.sql<{ segment: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS segment')) as [{ segment: string }];
  await eventually(`segment ${segment} is archived`, async () => r.archived(segment), (yes) => yes, 120_000);
  await archive.signal(stopWalArchive);
  const stopped = await r.record('wal-archive-stopped', archive);
  if (stopped.state !== 'stopped') throw new Error(`wal-archive-stopped: expected state stopped, got ${JSON.stringify(stopped)}`);

  const to = t.toISOString();
  const restored = await r.start('restoreToTime', 'record-restore-to-time', { to_time: to, target_dir: r.newDir('restored') });
  const result = (await r.record('restore-to-time', restored)) as unknown as RecoveryResult;
  if (result.recovered_to === null || result.recovered_to > to) throw new Error(`restore-to-time: expected a recovery to ${to} at the latest, got ${JSON.stringify(result)}`);
}

/** baseBackup with its retention step (the path behind patched('basebackup-retention')), and pruneBaseBackups as a dry run. */
export async function recordPhysicalRetention(r: Recording): Promise<void> {
  await r.record('base-backup-retention', await r.start('baseBackup', 'record-base-backup-retention', {}));
  await r.record('prune-base-backups-dry-run', await r.start('pruneBaseBackups', 'record-prune-base-backups-dry-run', { dry_run: true }));
}
