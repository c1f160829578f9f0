import type { Command } from 'commander';
import { describeAbout } from '../../backup/plausibility';
import type { CommandContext } from '../context';
import { details, resultWord, type StatusReport } from '../history/entry';
import { openRunRecords } from '../history/records';
import { formatTable, printJson } from '../output';

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
      const report = await openRunRecords(ctx, opts.local).status(workflowId);
      if (opts.json) printJson(report, ctx.stdout);
      else ctx.stdout.write(`${formatStatus(report)}\n`);
    });
}

/** The report as a person reads it. */
function formatStatus(r: StatusReport): string {
  const rows: string[][] = [
    ['  started', r.started_at ?? '-'],
    ['  finished', r.closed_at ?? '-'],
  ];
  const d = details(r);
  if (d) rows.push(['  details', d]);
  if (r.live && 'phase' in r.live) {
    rows.push(['  phase', r.live.phase.replace(/_/g, ' ')]);
    rows.push(['  pre-restore backup', r.live.pre_restore_backup ?? (r.live.phase === 'awaiting_confirmation' ? 'none yet (made once confirmed, right before the change)' : 'none yet')]);
    // What the confirmation is about: the backup's source database, time and size, and any doubts.
    if (r.live.backup) rows.push(['  restoring from', describeAbout(r.live.backup)], ...r.live.backup.warnings.map((w) => ['  WARNING', w]));
    if (r.live.phase === 'awaiting_confirmation') rows.push(['  waiting', `until ${r.live.confirm_by ?? '?'}: fbb restore confirm ${r.workflow_id ?? ''} (or fbb restore cancel ${r.workflow_id ?? ''})`]);
  } else if (r.live) {
    rows.push(['  step', `${r.live.step}${r.live.filename ? ` ${r.live.filename}` : ''}`]);
  }
  return `${r.kind} ${r.workflow_id ?? '?'}: ${resultWord(r)}\n${formatTable(rows)}`;
}
