// Recent runs from Temporal's visibility API, with a summary of each closed run's result.
import { WorkflowFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { progressQuery, statusQuery } from '../../workflows';
import type { BackupProgress, BackupResult } from '../../workflows/backupDatabase';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import type { DrillResult } from '../../workflows/restoreDrill';
import type { CommandContext } from '../context';
import { applicationFailureOf } from '../failures';
import { describeExisting, withTemporal } from '../runner';
import { summarizeBackup, summarizeDrill, summarizeRestore, WORKFLOW_TYPES, type HistoryEntry, type RunKind, type RunStatus, type StatusReport } from './entry';
import type { RunRecords } from './records';

const STATUSES = new Set<RunStatus>(['running', 'completed', 'failed', 'cancelled', 'terminated', 'timed_out', 'continued_as_new', 'paused']);

const QUERY_BY_TYPE: Record<string, string> = { [WORKFLOW_TYPES.restore]: statusQuery.name, [WORKFLOW_TYPES.backup]: progressQuery.name };

/** How long a running run's query may take before status shows what it has without it. */
const QUERY_TIMEOUT_MS = 10_000;

/** Results are fetched this many at a time. */
const CONCURRENCY = 8;

/** The runs on the Temporal server; each call opens its own connection. */
export function temporalRecords(ctx: CommandContext): RunRecords {
  return {
    list: (options) => withTemporal(ctx.config(), ctx.connect, (client) => temporalHistory(client, options)),
    status: (workflowId) => {
      const config = ctx.config();
      return withTemporal(config, ctx.connect, async (client): Promise<StatusReport> => {
        const description = await describeExisting(client, config, workflowId);
        const entry = await describeRun(client, description);
        const query = QUERY_BY_TYPE[description.type];
        let live: StatusReport['live'] = null;
        if (entry.status === 'running' && query !== undefined) {
          live = await withTimeout(client.workflow.getHandle(workflowId).query<BackupProgress | RestoreResult>(query), QUERY_TIMEOUT_MS).catch(() => {
            ctx.notice(`fbb: warning: no worker answered the ${query} query of ${workflowId} within ${QUERY_TIMEOUT_MS / 1000} s; is a worker polling task queue "${description.taskQueue}"? Start one with "npm run worker"`);
            return null;
          });
        }
        return { ...entry, workflow_type: description.type, live };
      });
    },
    noneYet: (what) => `no ${what} runs on Temporal yet: make one with "fbb backup"`,
  };
}

/**
 * The visibility query for `kinds`. No ORDER BY: Temporal Cloud rejects it, and the default order
 * (running first, then by close time, newest first) is what history wants.
 */
function historyQuery(kinds: readonly RunKind[]): string {
  return `WorkflowType IN (${kinds.map((k) => `'${WORKFLOW_TYPES[k]}'`).join(', ')})`;
}

/** The newest `limit` backup and/or restore runs, newest start first; results are fetched for those runs only. */
async function temporalHistory(client: Client, options: { kinds: readonly RunKind[]; limit: number }): Promise<HistoryEntry[]> {
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
async function describeRun(client: Client, info: Pick<WorkflowExecutionInfo, 'type' | 'workflowId' | 'runId' | 'status' | 'startTime' | 'closeTime'>): Promise<HistoryEntry> {
  const kind: RunKind = info.type === WORKFLOW_TYPES.restore ? 'restore' : info.type === WORKFLOW_TYPES.drill ? 'drill' : 'backup';
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
    entry.summary = kind === 'restore' ? summarizeRestore(result as RestoreResult) : kind === 'drill' ? summarizeDrill(result as DrillResult) : summarizeBackup(result as BackupResult);
    if (kind === 'restore' && (result as RestoreResult).error) entry.error = (result as RestoreResult).error;
  } catch (err) {
    const failure = applicationFailureOf(err);
    const cause = err instanceof WorkflowFailedError && err.cause ? err.cause : err;
    entry.error = failure ? { type: failure.type ?? null, message: failure.message } : { type: null, message: (cause as Error).message ?? String(cause) };
  }
  return entry;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
