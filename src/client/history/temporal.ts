// Recent runs from Temporal's visibility API, with a summary of each closed run's result.
import { WorkflowFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import type { BackupResult } from '../../workflows/backupDatabase';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import { applicationFailureOf } from '../failures';
import { summarizeBackup, summarizeRestore, WORKFLOW_TYPES, type HistoryEntry, type RunKind, type RunStatus } from './entry';

const STATUSES = new Set<RunStatus>(['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out', 'continued_as_new', 'paused']);

/** Results are fetched this many at a time. */
const CONCURRENCY = 8;

/**
 * The visibility query for `kinds`. No ORDER BY: Temporal Cloud rejects it, and the default order
 * (running first, then by close time, newest first) is what history wants.
 */
export function historyQuery(kinds: readonly RunKind[]): string {
  return `WorkflowType IN (${kinds.map((k) => `'${WORKFLOW_TYPES[k]}'`).join(', ')})`;
}

/** The newest `limit` backup and/or restore runs, newest start first; results are fetched for those runs only. */
export async function temporalHistory(client: Client, options: { kinds: readonly RunKind[]; limit: number }): Promise<HistoryEntry[]> {
  const infos: WorkflowExecutionInfo[] = [];
  if (options.limit > 0) {
    for await (const info of client.workflow.list({ query: historyQuery(options.kinds), pageSize: options.limit })) {
      infos.push(info);
      if (infos.length >= options.limit) break;
    }
  }
  infos.sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
  const entries: HistoryEntry[] = [];
  for (let i = 0; i < infos.length; i += CONCURRENCY) {
    entries.push(...(await Promise.all(infos.slice(i, i + CONCURRENCY).map((info) => describeRun(client, info)))));
  }
  return entries;
}

/** One run as a history entry; reads the result of a completed run and the failure of a failed one. */
export async function describeRun(client: Client, info: Pick<WorkflowExecutionInfo, 'type' | 'workflowId' | 'runId' | 'status' | 'startTime' | 'closeTime'>): Promise<HistoryEntry> {
  const kind: RunKind = info.type === WORKFLOW_TYPES.restore ? 'restore' : 'backup';
  const name = info.status.name.toLowerCase() as RunStatus;
  const entry: HistoryEntry = {
    workflow_id: info.workflowId,
    run_id: info.runId,
    kind,
    status: STATUSES.has(name) ? name : 'unknown',
    started_at: info.startTime.toISOString(),
    closed_at: info.closeTime?.toISOString() ?? null,
    summary: null,
    error: null,
    source: 'temporal',
  };
  if (entry.status !== 'completed' && entry.status !== 'failed') return entry;
  try {
    const result: unknown = await client.workflow.getHandle(info.workflowId, info.runId, { followRuns: false }).result();
    entry.summary = kind === 'restore' ? summarizeRestore(result as RestoreResult) : summarizeBackup(result as BackupResult);
    if (kind === 'restore' && (result as RestoreResult).error) entry.error = (result as RestoreResult).error;
  } catch (err) {
    const failure = applicationFailureOf(err);
    const cause = err instanceof WorkflowFailedError && err.cause ? err.cause : err;
    entry.error = failure ? { type: failure.type ?? null, message: failure.message } : { type: null, message: (cause as Error).message ?? String(cause) };
  }
  return entry;
}
