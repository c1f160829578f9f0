// Workflow IDs, built in one place so the CLI, schedules and tests agree on them.

/** "2026-11-24T02:30:00.000Z" -> "20261124T023000Z", for IDs that sort by time. */
function stamp(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** ID of a `fbb doctor` run. */
export function doctorWorkflowId(at: Date = new Date()): string {
  return `doctor-${stamp(at)}`;
}

/** ID of a backup run: `backup-<database>-<type>-<UTC timestamp>`. */
export function backupWorkflowId(database: string, type: string, at: Date = new Date()): string {
  return `backup-${database}-${type}-${stamp(at)}`;
}

/** ID of a `fbb list` run. */
export function listWorkflowId(at: Date = new Date()): string {
  return `list-${stamp(at)}`;
}

/** ID of a restore run: `restore-<database>-<UTC timestamp>`. */
export function restoreWorkflowId(database: string, at: Date = new Date()): string {
  return `restore-${database}-${stamp(at)}`;
}

/** ID of a restore drill run: `drill-<database>-<UTC timestamp>`. */
export function drillWorkflowId(database: string, at: Date = new Date()): string {
  return `drill-${database}-${stamp(at)}`;
}

/** ID of a base backup run: `basebackup-<database>-<UTC timestamp>`. */
export function baseBackupWorkflowId(database: string, at: Date = new Date()): string {
  return `basebackup-${database}-${stamp(at)}`;
}

/** ID of a point-in-time restore into a directory: `pitr-<database>-<UTC timestamp>`. */
export function restoreToTimeWorkflowId(database: string, at: Date = new Date()): string {
  return `pitr-${database}-${stamp(at)}`;
}

/** ID of the WAL archive of one database server: `fbb-wal-<database>@<host>:<port>`, one running archive per server. */
export function walWorkflowId(database: string, host: string, port: number): string {
  return `fbb-wal-${database}@${host}:${port}`;
}
