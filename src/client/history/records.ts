// Where `fbb history` and `fbb status` read runs: Temporal's visibility and queries, or with --local
// the records on this side (systemLogs.ts). The commands do not know which.
import { localRecords } from './systemLogs';
import type { CommandContext } from '../context';
import type { HistoryEntry, RunKind, StatusReport } from './entry';
import { temporalRecords } from './temporal';

/** The runs one engine knows about. */
export interface RunRecords {
  /** The newest `limit` runs of these kinds, newest first. */
  list(options: { kinds: readonly RunKind[]; limit: number }): Promise<HistoryEntry[]>;
  /** One run by workflow ID, with a running run's live query answer. */
  status(workflowId: string): Promise<StatusReport>;
  /** What `fbb history` says when there is no run of `what`: where it looked, and how to make one. */
  noneYet(what: string): string;
}

/** The records a command reads: Temporal's, or with `local` the database's system_logs and BACKUP_DIR. */
export function openRunRecords(ctx: CommandContext, local: boolean): RunRecords {
  return local ? localRecords(ctx) : temporalRecords(ctx);
}
