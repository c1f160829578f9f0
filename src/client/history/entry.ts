// One backup or restore run as `fbb history` and `fbb status` show it, whether Temporal's
// visibility or the database's system_logs told us about it: the same JSON shape from both.
import type { BackupProgress, BackupResult } from '../../workflows/backupDatabase';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import type { DrillResult } from '../../workflows/restoreDrill';
import { formatTable } from '../output';

/** What a backup run's result says, in brief. */
export interface BackupSummary {
  filename: string;
  backup_type: string;
  size_mb: number;
  total_rows: number;
  /** Restored into a scratch database and every table's row count matched; null for a dry run. */
  verified: boolean | null;
  dry_run: boolean;
}

/** What a restore run's result says, in brief. */
export interface RestoreSummary {
  /** The restore's own outcome; null when it was not recorded (see `fbb history --local`). */
  restore_status: RestoreResult['status'] | null;
  restored_from: string | null;
  pre_restore_backup: string | null;
  verified: boolean | null;
}

/** What a passed restore drill's result says, in brief (a failed one has its error). */
export interface DrillSummary {
  drill_status: 'passed';
  drilled: string;
  source: 'local' | 's3';
  tables_checked: number;
  rows_checked: number;
}

/** A run's state, Temporal's execution status in lower case; `unknown` when only part of it was recorded. */
export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'terminated' | 'timed_out' | 'continued_as_new' | 'paused' | 'unknown';

/** One run. Times are UTC, ISO 8601. */
export interface HistoryEntry {
  workflow_id: string | null;
  run_id: string | null;
  kind: RunKind;
  status: RunStatus;
  started_at: string | null;
  closed_at: string | null;
  summary: BackupSummary | RestoreSummary | DrillSummary | null;
  error: { type: string | null; message: string } | null;
  /** Where this came from: Temporal's visibility API, or the system_logs rows the runs wrote. */
  source: 'temporal' | 'system_logs';
}

/** What `fbb status --json` prints: the run as `fbb history` shows it, its workflow type, and a running run's live query answer. */
export type StatusReport = HistoryEntry & { workflow_type: string; live: BackupProgress | RestoreResult | null };

/** Workflow type per kind of run. */
export const WORKFLOW_TYPES = { backup: 'backupDatabase', restore: 'restoreDatabase', drill: 'restoreDrill' } as const;
export type RunKind = keyof typeof WORKFLOW_TYPES;

/** The brief of a backup result (or of what a run recorded of it). */
export function summarizeBackup(r: Pick<BackupResult, 'filename' | 'backup_type' | 'size_mb' | 'total_rows' | 'dry_run'> & { verified?: { ok: boolean } | null }): BackupSummary {
  return { filename: r.filename, backup_type: r.backup_type, size_mb: r.size_mb, total_rows: r.total_rows, verified: r.verified ? r.verified.ok : null, dry_run: r.dry_run === true };
}

/** The brief of a passed drill's result. */
export function summarizeDrill(r: Pick<DrillResult, 'filename' | 'source' | 'tables_checked' | 'rows_checked'>): DrillSummary {
  return { drill_status: 'passed', drilled: r.filename, source: r.source, tables_checked: r.tables_checked, rows_checked: r.rows_checked };
}

/** The brief of a restore result. */
export function summarizeRestore(r: Pick<RestoreResult, 'status' | 'restored_from' | 'pre_restore_backup' | 'verification'>): RestoreSummary {
  return { restore_status: r.status, restored_from: r.restored_from, pre_restore_backup: r.pre_restore_backup, verified: r.verification ? r.verification.ok : null };
}

const time = (iso: string | null) => (iso === null ? '-' : iso.replace('T', ' ').slice(0, 19));

/** One word for the RESULT column. */
export function resultWord(e: HistoryEntry): string {
  if (e.status === 'failed') return 'FAILED';
  if (e.status !== 'completed' || e.summary === null) return e.status.replace(/_/g, ' ');
  if ('drill_status' in e.summary) return 'drill passed';
  if ('restore_status' in e.summary) return (e.summary.restore_status ?? 'unknown').replace(/_/g, ' ');
  if (e.summary.dry_run) return 'dry run';
  return e.summary.verified ? 'verified' : 'completed';
}

/** The DETAILS column: file, size and rows, or the error. */
export function details(e: HistoryEntry): string {
  const s = e.summary;
  const parts: string[] = [];
  if (s !== null && 'drill_status' in s) {
    parts.push(`${s.drilled} from ${s.source}: ${s.tables_checked} tables, ${s.rows_checked.toLocaleString('en-US')} rows match`);
  } else if (s !== null && 'filename' in s) {
    parts.push(`${s.filename}, ${s.size_mb} MB, ${s.total_rows.toLocaleString('en-US')} rows`);
  } else if (s !== null) {
    if (s.restored_from) parts.push(`from ${s.restored_from}`);
    if (s.pre_restore_backup) parts.push(`pre-restore backup ${s.pre_restore_backup}`);
    if (s.restore_status === null) parts.push("the restore's own outcome is not recorded in system_logs");
  }
  if (e.error) parts.push(`${e.error.type ? `${e.error.type}: ` : ''}${e.error.message}`);
  return parts.join('; ');
}

/** The runs as a table, newest first. */
export function formatHistory(entries: readonly HistoryEntry[]): string {
  const rows = [['STARTED (UTC)', 'FINISHED (UTC)', 'KIND', 'RESULT', 'WORKFLOW ID', 'DETAILS']];
  for (const e of entries) rows.push([time(e.started_at), time(e.closed_at), e.kind, resultWord(e), e.workflow_id ?? '-', details(e)]);
  return formatTable(rows);
}
