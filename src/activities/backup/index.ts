import { WorkflowNotFoundError } from '@temporalio/client';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { beatingWhile } from '../stream';
import { pausePoint } from '../pausePoint';
import { manifestName, parseManifest, type BackupManifest } from '../../backup/manifest';
import type { RetentionPolicy } from '../../backup/retention';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import type { NotifyPolicy } from '../../workflows/notify';
import type { ActivityTuning } from '../../workflows/proxies';
import type { Catalog } from '../../backup/catalog';
import { listCatalog } from '../catalog';
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
  /**
   * Which lock keeps one backup or restore per database: "temporal" (a lock workflow on the server,
   * for workers that share no directory) or "file" (in BACKUP_DIR: --local runs; absent in older histories).
   */
  lock?: 'file' | 'temporal';
  /** The database server, "<host>:<port>": with the database's name, what the lock is keyed on (absent in older histories). */
  server?: string;
}

/** A backup's manifest, and the own task queue of the worker that has its file (absent: no such queue). */
export type LocatedBackup = BackupManifest & { worker_queue?: string };

/** Who holds the Temporal lock of a database, as describeDatabaseLock finds it. */
export interface TemporalLockHolder {
  workflow_id: string;
  run_id: string;
  kind: 'backup' | 'restore';
  since: string;
}

/** How the backup activities run: in the CLI's process (--local), or on a worker with its own task queue and lock kind. */
export interface BackupActivityOptions {
  /** True when they run in the CLI's process (--local), whose death ends the run. */
  local?: boolean;
  /** The worker's own task queue, which only it polls: where the steps that read a backup's file are sent. */
  workerQueue?: string;
  /** The lock the workflows take (default "file"). */
  lock?: 'file' | 'temporal';
  /** With `local`: where the user is told what the lock and the clean-up did (the CLI's stderr; default process.stderr). */
  notice?: (line: string) => void;
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

/** Says what the lock and the clean-up did: to the CLI's stderr for a --local run (`local`: the user is watching), in the worker's log otherwise. */
function tell(local: false | ((line: string) => void), line: string): void {
  if (local) local(`fbb: ${line}`);
  else Context.current().log.warn(line);
}

/** What each kind of leftover is, in the worker's log. */
const LEFTOVER_WORD: Record<Leftover['kind'], string> = { partial_file: 'file', scratch_database: 'database', restoring_database: 'database', closed_database: 'database', scratch_cluster: 'scratch cluster', drill_directory: 'directory' };

/** The backup pipeline's activities; `local` when they run in the CLI's process (--local), whose death ends the run. */
export function createBackupActivities(config: Config, options: BackupActivityOptions = {}) {
  const local = options.local ?? false;
  const told = local && (options.notice ?? ((line: string) => void process.stderr.write(`${line}\n`)));
  const here = (manifest: BackupManifest): LocatedBackup => (options.workerQueue ? { ...manifest, worker_queue: options.workerQueue } : manifest);
  // The sweep of leftovers may drop databases (seconds): it heartbeats, as the quick activities' policy asks of what runs longer (workflows/proxies.ts).
  const sweeping = <T>(work: () => Promise<T>) => beatingWhile(3_000, () => Context.current().heartbeat(), work);
  return {
    async backupSettings(): Promise<BackupSettings> {
      const { database } = config.database;
      const s3 = config.s3 ? { bucket: config.s3.bucket, prefix: config.s3.prefix } : null;
      return { database, prefix: config.backup.prefix, timezone: config.backup.timezone, s3, retention: config.backup.retention, activity_tuning: config.worker.activityTuning, notify: { enabled: config.notify.webhookUrls.length > 0, on_success: config.notify.on === 'always' }, encrypted: config.backup.ageRecipients.length > 0, ...(options.lock === 'temporal' ? { lock: 'temporal' as const } : {}), server: `${config.database.host}:${config.database.port}` };
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
      if (old) tell(told, `took over the lock of ${old.kind} ${old.workflow_id} (${old.reason})`);
      const cleaned = await sweeping(() => cleanLeftovers(config, { dryRun: false, before: new Date(acquired.holder.since), openClosed: old?.kind === 'restore' })).catch((err: unknown) => {
        tell(told, `could not look for leftovers of earlier runs: ${(err as Error).message}`);
        return [];
      });
      for (const l of cleaned) {
        if (l.removed) tell(told, l.kind === 'closed_database' ? `opened ${l.name} to connections again (closed by a restore that died)` : `removed leftover ${LEFTOVER_WORD[l.kind]} ${l.name} of a run that is no longer running`);
      }
      return { ...acquired, cleaned };
    },
    async releaseBackupLock(workflowId: string): Promise<void> {
      return fileLock(config).release({ workflow_id: workflowId, run_id: currentRun() });
    },
    /**
     * Under the Temporal lock (held by the caller since `since`): refuses while a live --local run holds
     * this worker's file lock, then removes what runs no longer running left behind, as acquireBackupLock does.
     */
    async cleanBeforeRun(holder: { workflow_id: string; kind: 'backup' | 'restore'; since: string }): Promise<Leftover[]> {
      const file = await fileLock(config).inspect();
      if (file?.blocking && file.holder.local && file.holder.workflow_id !== holder.workflow_id) {
        throw permanent(
          ErrorType.DatabaseBusy,
          `a ${file.holder.kind} of database "${config.database.database}" is already running with --local (workflow ${file.holder.workflow_id}, pid ${file.holder.pid} on ${file.holder.host}, since ${file.holder.since}); wait for it to finish`,
        );
      }
      const cleaned = await sweeping(() => cleanLeftovers(config, { dryRun: false, before: new Date(holder.since), openClosed: true })).catch((err: unknown) => {
        tell(told, `could not look for leftovers of earlier runs: ${(err as Error).message}`);
        return [];
      });
      for (const l of cleaned) {
        if (l.removed) tell(told, l.kind === 'closed_database' ? `opened ${l.name} to connections again (closed by a restore that died)` : `removed leftover ${LEFTOVER_WORD[l.kind]} ${l.name} of a run that is no longer running`);
      }
      return cleaned;
    },
    /** The holder of the Temporal lock workflow `lockId`, and whether its run still runs (else the server is about to end the lock); none when there is no such lock. */
    async describeDatabaseLock(lockId: string): Promise<{ holder: TemporalLockHolder | null; lock_running: boolean; holder_running: boolean }> {
      const { client } = Context.current();
      const lock = await client.workflow
        .getHandle(lockId)
        .describe()
        .catch((err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return null;
          throw err;
        });
      if (lock === null) return { holder: null, lock_running: false, holder_running: false };
      const holder = (lock.memo?.holder as TemporalLockHolder | undefined) ?? null;
      if (lock.status.name !== 'RUNNING') return { holder, lock_running: false, holder_running: false };
      const parent = lock.parentExecution;
      if (!parent?.workflowId) return { holder, lock_running: true, holder_running: true };
      const status = await client.workflow
        .getHandle(parent.workflowId, parent.runId ?? undefined)
        .describe()
        .then((d) => d.status.name)
        .catch(() => 'UNKNOWN');
      return { holder, lock_running: true, holder_running: status === 'RUNNING' };
    },
    /** Dumps into this worker's BACKUP_DIR; the result names the worker's own queue, where the later steps go. */
    async dumpDatabase(req: DumpRequest): Promise<LocatedBackup> {
      return here(await dumpDatabase(config, req));
    },
    /**
     * The finished dump `filename` of run `workflowId`, if it is in this worker's BACKUP_DIR (a shared
     * directory): the run then carries on here after losing the worker that made it. Null otherwise.
     */
    async locateBackup(req: Pick<DumpRequest, 'filename' | 'workflowId'>): Promise<LocatedBackup | null> {
      try {
        const dir = config.backup.dir;
        const [text, stat] = await Promise.all([fs.readFile(path.join(dir, manifestName(req.filename)), 'utf8'), fs.stat(path.join(dir, req.filename))]);
        const manifest = parseManifest(text, manifestName(req.filename));
        return manifest.workflow_id === req.workflowId && manifest.size_bytes === stat.size && manifest.status !== 'failed' ? here(manifest) : null;
      } catch {
        return null;
      }
    },
    /** The worker's own task queue and host, for messages (undefined queue: none). */
    async whereAmI(): Promise<{ worker_queue?: string; host: string; backup_dir: string }> {
      return { ...(options.workerQueue ? { worker_queue: options.workerQueue } : {}), host: os.hostname(), backup_dir: config.backup.dir };
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
      return beatingWhile(5_000, () => Context.current().heartbeat(), () => listCatalog(config, includeS3));
    },
    /** Best effort: a database without system_logs is fine. */
    async recordBackup(entry: LogEntry): Promise<boolean> {
      await pausePoint('record');
      return recordInSystemLogs(config, entry);
    },
  };
}
