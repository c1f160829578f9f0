import type { Command } from 'commander';
import { progressQuery, statusQuery } from '../../workflows';
import type { BackupProgress } from '../../workflows/backupDatabase';
import type { RestoreResult } from '../../workflows/restoreDatabase';
import type { CommandContext } from '../context';
import { details, resultWord, WORKFLOW_TYPES, type HistoryEntry } from '../history/entry';
import { describeRun } from '../history/temporal';
import { formatTable, printJson } from '../output';
import { describeExisting, notReachableLocally, withTemporal } from '../runner';

const QUERY_BY_TYPE: Record<string, string> = { [WORKFLOW_TYPES.restore]: statusQuery.name, [WORKFLOW_TYPES.backup]: progressQuery.name };

/** How long a running run's query may take before status shows what it has without it. */
const QUERY_TIMEOUT_MS = 10_000;

/** What `fbb status --json` prints: the run as `fbb history` shows it, its workflow type, and a running run's live query answer. */
export type StatusReport = HistoryEntry & { workflow_type: string; live: BackupProgress | RestoreResult | null };

/** `fbb status <workflow-id>`: where a backup or restore on Temporal is, or how it ended. */
export function registerStatus(program: Command, ctx: CommandContext): void {
  program
    .command('status')
    .description("show a backup's progress or a restore's phase, or how it ended (runs on Temporal)")
    .argument('<workflow-id>', 'the workflow ID fbb printed when it started (or see "fbb history")')
    .option('--json', 'print as JSON', false)
    .option('--local', 'explain where to look for --local runs (they cannot be reached from another process)', false)
    .addHelpText('after', '\nExamples:\n  $ fbb status restore-family_brain-20261124T101500Z\n  $ fbb status backup-family_brain-daily-20261124T070000Z --json\n')
    .action(async (workflowId: string, opts: { json: boolean; local: boolean }) => {
      if (opts.local) {
        throw notReachableLocally(workflowId, 'the process that started it shows its progress, and "fbb history --local" shows how runs ended');
      }
      const config = ctx.config();
      const report = await withTemporal(config, ctx.connect, async (client): Promise<StatusReport> => {
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
      if (opts.json) printJson(report, ctx.stdout);
      else ctx.stdout.write(`${formatStatus(report)}\n`);
    });
}

/** The report as a person reads it. */
export function formatStatus(r: StatusReport): string {
  const rows: string[][] = [
    ['  started', r.started_at ?? '-'],
    ['  finished', r.closed_at ?? '-'],
  ];
  const d = details(r);
  if (d) rows.push(['  details', d]);
  if (r.live && 'phase' in r.live) {
    rows.push(['  phase', r.live.phase.replace(/_/g, ' ')]);
    rows.push(['  pre-restore backup', r.live.pre_restore_backup ?? 'none yet']);
    if (r.live.phase === 'awaiting_confirmation') rows.push(['  waiting', `until ${r.live.confirm_by ?? '?'}: fbb restore confirm ${r.workflow_id ?? ''} (or fbb restore cancel ${r.workflow_id ?? ''})`]);
  } else if (r.live) {
    rows.push(['  step', `${r.live.step}${r.live.filename ? ` ${r.live.filename}` : ''}`]);
  }
  return `${r.kind} ${r.workflow_id ?? '?'}: ${resultWord(r)}\n${formatTable(rows)}`;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
