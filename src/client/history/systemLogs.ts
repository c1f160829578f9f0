// Runs as the records on this side tell them, without a Temporal server: the system_logs rows every
// backup writes (src/activities/backup/record.ts; a restore writes one for its pre-restore backup),
// the manifests in BACKUP_DIR (each names the workflow that made it) and a running run's lock file.
import fs from 'node:fs/promises';
import type pg from 'pg';
import { connect } from '../../activities/db';
import { databaseUnreachable } from '../../activities/failures';
import { lockPath, STALE_LOCK_MS, type LockHolder } from '../../activities/backup/lock';
import type { BackupManifest } from '../../backup/manifest';
import { parseBackupName } from '../../backup/naming';
import type { Config } from '../../config';
import { LocalStore } from '../../storage/localStore';
import type { BackupResult } from '../../workflows/backupDatabase';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { summarizeBackup, type HistoryEntry, type RunKind } from './entry';
import type { RunRecords } from './records';
import { notReachableLocally } from '../runner';

/** A system_logs row with source 'backup'. */
interface LogRow {
  created_at: Date | null;
  level: string;
  message: string;
  details: Record<string, unknown> | null;
}

const PAGE = 200;
const MB = 1024 * 1024;

/** The runs recorded here: history from system_logs; a run's status only in the process that runs it. */
export function localRecords(ctx: CommandContext): RunRecords {
  return {
    list: (options) => localHistory(ctx.config(), options),
    status: async (workflowId) => {
      throw notReachableLocally(workflowId, 'the process that started it shows its progress, and "fbb history --local" shows how runs ended');
    },
    noneYet: (what) => `no ${what} runs recorded in system_logs yet: make one with "fbb backup --local"`,
  };
}

/** The newest `limit` runs recorded in the database's system_logs, newest first. */
async function localHistory(config: Config, options: { kinds: readonly RunKind[]; limit: number }): Promise<HistoryEntry[]> {
  const manifests = new Map((await localManifests(config).catch(() => [])).map((m) => [m.filename, m]));
  return await withLogs(config, async (client, order) => {
    const entries: HistoryEntry[] = [];
    const recordedPreRestore = new Set<string>();
    for (let offset = 0; entries.length < options.limit; offset += PAGE) {
      const { rows } = await client.query<LogRow>(
        `SELECT ${order.hasCreatedAt ? 'created_at' : 'NULL::timestamptz AS created_at'}, level, message, details FROM system_logs WHERE source = 'backup' ORDER BY ${order.by} LIMIT ${PAGE} OFFSET ${offset}`,
      );
      for (const row of rows) {
        const entry = entryOf(row, manifests, recordedPreRestore);
        if (entry !== undefined && options.kinds.includes(entry.kind)) entries.push(entry);
        if (entries.length >= options.limit) break;
      }
      if (rows.length < PAGE) break;
    }
    return entries;
  });
}

/** What the records here say about a workflow ID: running now, or already completed (with its result when it was a backup). */
export type PreviousRun =
  | { state: 'running'; kind: RunKind; since: string }
  | { state: 'completed'; kind: 'backup'; since: string; result: BackupResult }
  | { state: 'completed'; kind: 'restore'; since: string; pre_restore_backup: string };

/** Finds the run `workflowId` names: the lock file of one in progress, or the verified backup it made; undefined when there is none (or it failed). */
export async function findLocalRun(config: Config, workflowId: string): Promise<PreviousRun | undefined> {
  const lock = await readLock(config);
  if (lock?.workflow_id === workflowId && Date.now() - Date.parse(lock.since) <= STALE_LOCK_MS) return { state: 'running', kind: lock.kind, since: lock.since };
  const manifest = (await localManifests(config)).find((m) => m.workflow_id === workflowId && m.status === 'verified');
  if (manifest === undefined) return undefined;
  if (manifest.type === 'pre_restore') return { state: 'completed', kind: 'restore', since: manifest.created_at, pre_restore_backup: manifest.filename };
  const row = await newestRecordOf(config, manifest.filename).catch(() => undefined);
  // Verified, then failed later (an upload, say): as on Temporal, a failed run may be run again.
  if (row?.level === 'error') return undefined;
  // The row also names its workflow, which is not part of a backup's result.
  const { workflow_id: _id, ...recorded } = (row?.details ?? {}) as Partial<BackupResult> & { workflow_id?: string };
  return { state: 'completed', kind: 'backup', since: row?.created_at?.toISOString() ?? manifest.created_at, result: { ...resultOf(manifest), ...recorded, table_details: manifest.table_details } };
}

/** A backup's result as far as its manifest tells it (what upload and prune did is in its system_logs row). */
function resultOf(m: BackupManifest): BackupResult {
  const v = m.verification;
  return {
    status: 'success',
    dry_run: false,
    filename: m.filename,
    backup_type: m.type,
    size_mb: Math.round((m.size_bytes / MB) * 100) / 100,
    tables_backed_up: m.tables_backed_up,
    total_rows: m.total_rows,
    table_details: m.table_details,
    sha256: m.sha256,
    verified: v ? { ok: v.ok, tables_checked: v.tables_checked, verified_at: v.verified_at, duration_ms: v.duration_ms } : null,
    uploaded: null,
    pruned: [],
    duration_ms: 0,
  };
}

/** One row as a run; undefined for rows that are not about a run (or whose restore row was already shown). */
function entryOf(row: LogRow, manifests: Map<string, BackupManifest>, recordedPreRestore: Set<string>): HistoryEntry | undefined {
  const d = row.details ?? {};
  const closed = row.created_at?.toISOString() ?? null;
  const failed = row.level === 'error';
  const base = { run_id: null, closed_at: closed, error: null, source: 'system_logs' as const };
  if (typeof d.restored_from === 'string') {
    // A restore's own record: its result, with workflow_id.
    const r = d as Partial<RestoreResult> & { workflow_id?: string };
    if (typeof r.pre_restore_backup === 'string') recordedPreRestore.add(r.pre_restore_backup);
    return {
      ...base,
      workflow_id: text(r.workflow_id),
      kind: 'restore',
      status: failed ? 'failed' : 'completed',
      started_at: startOf(closed, r.duration_ms),
      summary: { restore_status: r.status ?? null, restored_from: r.restored_from ?? null, pre_restore_backup: r.pre_restore_backup ?? null, verified: r.verification ? r.verification.ok : null },
      error: r.error ? { type: r.error.type, message: r.error.message } : null,
    };
  }
  const filename = text(d.filename);
  if (filename === null) return undefined;
  const preRestore = (text(d.backup_type) ?? parseBackupName(filename)?.type) === 'pre_restore';
  if (preRestore && recordedPreRestore.has(filename)) return undefined;
  const kind: RunKind = preRestore ? 'restore' : 'backup';
  const workflow_id = text(d.workflow_id) ?? manifests.get(filename)?.workflow_id ?? null;
  if (failed) {
    return { ...base, workflow_id, kind, status: 'failed', started_at: null, summary: null, error: { type: text(d.error_type), message: `${row.message}: ${text(d.error) ?? 'no reason recorded'}` } };
  }
  if (preRestore) {
    // The pre-restore backup of a restore: the restore got this far; how it ended is not recorded.
    return { ...base, workflow_id, kind, status: 'unknown', started_at: startOf(closed, d.duration_ms), closed_at: null, summary: { restore_status: null, restored_from: null, pre_restore_backup: filename, verified: null } };
  }
  const r = d as Partial<BackupResult>;
  const summary = summarizeBackup({
    filename,
    backup_type: r.backup_type ?? parseBackupName(filename)?.type ?? 'manual',
    size_mb: typeof r.size_mb === 'number' ? r.size_mb : 0,
    total_rows: typeof r.total_rows === 'number' ? r.total_rows : 0,
    dry_run: r.dry_run === true,
    verified: r.verified ?? null,
  });
  return { ...base, workflow_id, kind, status: 'completed', started_at: startOf(closed, r.duration_ms), summary };
}

const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

function startOf(closed: string | null, durationMs: unknown): string | null {
  return closed !== null && typeof durationMs === 'number' ? new Date(Date.parse(closed) - durationMs).toISOString() : null;
}

/** The newest system_logs row about `filename`. */
async function newestRecordOf(config: Config, filename: string): Promise<LogRow | undefined> {
  return await withLogs(config, async (client, order) => {
    const { rows } = await client.query<LogRow>(
      `SELECT ${order.hasCreatedAt ? 'created_at' : 'NULL::timestamptz AS created_at'}, level, message, details FROM system_logs WHERE source = 'backup' AND details->>'filename' = $1 ORDER BY ${order.by} LIMIT 1`,
      [filename],
    );
    return rows[0];
  });
}

/** Runs `fn` with a client on the configured database once it is known to have a system_logs table the runs write to. */
async function withLogs<T>(config: Config, fn: (client: pg.Client, order: { hasCreatedAt: boolean; by: string }) => Promise<T>): Promise<T> {
  const client = await connect(config.database).catch((err: unknown) => {
    throw new CliError(`cannot read the runs recorded in system_logs: ${databaseUnreachable(err, config).message}`, ExitCode.failed);
  });
  try {
    const { rows } = await client.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'system_logs'",
    );
    const columns = new Set(rows.map((r) => r.column_name));
    const missing = ['level', 'source', 'message', 'details'].filter((c) => !columns.has(c));
    if (missing.length > 0) {
      throw new CliError(
        `database "${config.database.database}" has ${columns.size === 0 ? 'no system_logs table' : `a system_logs table without ${missing.join(', ')}`}, so runs record nothing there and there is no history to show; ` +
          'create it (level text, source text, message text, details jsonb, created_at timestamptz DEFAULT now()), or run on a Temporal worker and use "fbb history" without --local',
        ExitCode.failed,
      );
    }
    const hasCreatedAt = columns.has('created_at');
    const by = [hasCreatedAt ? 'created_at DESC' : '', columns.has('id') ? 'id DESC' : 'ctid DESC'].filter(Boolean).join(', ');
    return await fn(client, { hasCreatedAt, by });
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The manifests in BACKUP_DIR. */
async function localManifests(config: Config): Promise<BackupManifest[]> {
  return (await new LocalStore(config.backup.dir, config.backup.prefix).list()).flatMap((b) => (b.manifest ? [b.manifest] : []));
}

/** Who holds the database's lock (src/activities/backup/lock.ts), if anyone. */
async function readLock(config: Config): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await fs.readFile(lockPath(config), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}
