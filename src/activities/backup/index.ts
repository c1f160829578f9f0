import { Context } from '@temporalio/activity';
import type { BackupManifest } from '../../backup/manifest';
import type { RetentionPolicy } from '../../backup/retention';
import type { Config } from '../../config';
import type { NotifyPolicy } from '../../workflows/notify';
import type { ActivityTuning } from '../../workflows/proxies';
import { listCatalog, type Catalog } from '../catalog';
import { withClient } from '../db';
import { databaseUnreachable } from '../failures';
import { dumpDatabase, type DumpRequest } from './dump';
import { countRows, listExtensions, totalRows } from './inventory';
import { fileLock, type LockAcquired, type LockHolder } from './lock';
import { cleanLeftovers, pruneAsideDatabases, pruneBackups, type AsideDecision, type Leftover, type PruneDecision } from './prune';
import { recordInSystemLogs, type LogEntry } from './record';
import { retractUpload, uploadBackup, type UploadResult } from './upload';
import { verifyBackup } from './verify';

/** The worker's non-secret backup settings, for the workflow to name files and plan. */
export interface BackupSettings {
  database: string;
  prefix: string;
  timezone: string;
  s3: { bucket: string; prefix: string } | null;
  retention: RetentionPolicy;
  /** The worker's overrides of the long activities' timeouts (absent in histories from before they existed). */
  activity_tuning?: ActivityTuning;
  /** Whether the worker has webhooks (NOTIFY_WEBHOOK_URL) and wants successes too (NOTIFY_ON=always); never the URLs. Absent in older histories. */
  notify?: NotifyPolicy;
  /** Backups are encrypted with age (BACKUP_AGE_RECIPIENTS is set): their names end in .age (absent in older histories). */
  encrypted?: boolean;
}

/** What a dry run reports about the database. */
export interface BackupPlan {
  table_details: Record<string, number>;
  tables_backed_up: number;
  total_rows: number;
  database_size_bytes: number;
  extensions: string[];
}

/** The run calling an activity, when there is one (tests also call activities directly). */
function currentRun(): string | undefined {
  try {
    return Context.current().info.workflowExecution?.runId;
  } catch {
    return undefined;
  }
}

/** Says what the lock and the clean-up did: on stderr for a --local run (the user is watching), in the worker's log otherwise. */
function tell(local: boolean, line: string): void {
  if (local) process.stderr.write(`fbb: ${line}\n`);
  else Context.current().log.warn(line);
}

/** The backup pipeline's activities; `local` when they run in the CLI's process (--local), whose death ends the run. */
export function createBackupActivities(config: Config, options: { local?: boolean } = {}) {
  const local = options.local ?? false;
  return {
    async backupSettings(): Promise<BackupSettings> {
      const { database } = config.database;
      const s3 = config.s3 ? { bucket: config.s3.bucket, prefix: config.s3.prefix } : null;
      return { database, prefix: config.backup.prefix, timezone: config.backup.timezone, s3, retention: config.backup.retention, activity_tuning: config.worker.activityTuning, notify: { enabled: config.notify.webhookUrls.length > 0, on_success: config.notify.on === 'always' }, encrypted: config.backup.ageRecipients.length > 0 };
    },
    /** Exact row counts and the database's size, for dry runs; changes nothing. */
    async planBackup(): Promise<BackupPlan> {
      return withClient(config.database, async (c) => {
        const counts = await countRows(c);
        const size = await c.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
        const extensions = (await listExtensions(c)).map((e) => `${e.name} ${e.version}`);
        return { table_details: counts, tables_backed_up: Object.keys(counts).length, total_rows: totalRows(counts), database_size_bytes: Number(size.rows[0]?.bytes ?? 0), extensions };
      }).catch((err: unknown) => {
        throw (err as { code?: string }).code ? databaseUnreachable(err, config) : err;
      });
    },
    /** Takes the database's lock (a dead --local holder's is taken over), then removes what runs no longer running left behind. */
    async acquireBackupLock(holder: Pick<LockHolder, 'workflow_id' | 'kind'>): Promise<LockAcquired & { cleaned: Leftover[] }> {
      const acquired = await fileLock(config).acquire({ ...holder, run_id: currentRun(), local });
      const old = acquired.took_over;
      if (old) tell(local, `took over the lock of ${old.kind} ${old.workflow_id} (${old.reason})`);
      const cleaned = await cleanLeftovers(config, { dryRun: false, before: new Date(acquired.holder.since), openClosed: old?.kind === 'restore' }).catch((err: unknown) => {
        tell(local, `could not look for leftovers of earlier runs: ${(err as Error).message}`);
        return [];
      });
      for (const l of cleaned) {
        if (l.removed) tell(local, l.kind === 'closed_database' ? `opened ${l.name} to connections again (closed by a restore that died)` : `removed leftover ${l.kind.startsWith('partial') ? 'file' : 'database'} ${l.name} of a run that is no longer running`);
      }
      return { ...acquired, cleaned };
    },
    async releaseBackupLock(workflowId: string): Promise<void> {
      return fileLock(config).release({ workflow_id: workflowId, run_id: currentRun() });
    },
    async dumpDatabase(req: DumpRequest): Promise<BackupManifest> {
      return dumpDatabase(config, req);
    },
    async verifyBackup(filename: string): Promise<BackupManifest> {
      return verifyBackup(config, filename);
    },
    async uploadBackup(filename: string): Promise<UploadResult> {
      return uploadBackup(config, filename);
    },
    async retractUpload(filename: string): Promise<{ bucket: string; keys: string[] }> {
      return retractUpload(config, filename);
    },
    async pruneBackups(options: { dryRun: boolean }): Promise<PruneDecision[]> {
      return pruneBackups(config, options);
    },
    async pruneAsideDatabases(options: { dryRun: boolean }): Promise<AsideDecision[]> {
      return pruneAsideDatabases(config, options);
    },
    async listCatalog(includeS3: boolean): Promise<Catalog> {
      return listCatalog(config, includeS3);
    },
    /** Best effort: a database without system_logs is fine. */
    async recordBackup(entry: LogEntry): Promise<boolean> {
      return recordInSystemLogs(config, entry);
    },
  };
}
