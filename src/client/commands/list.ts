import type { Command } from 'commander';
import type { Catalog } from '../../backup/catalog';
import { listWorkflowId } from '../../ids';
import { listBackups } from '../../workflows';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { describeFailure } from '../failures';
import { formatTable, printJson } from '../output';
import { openRunner, resultWithin } from '../runner';

/** `fbb list`: backups, newest first, and databases renamed aside by restores. */
export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .description('list backups (local, and S3 with --include-s3), newest first')
    .option('--include-s3', 'also list the S3 bucket', false)
    .option('--json', 'print the catalogue as JSON', false)
    .option('--local', 'run in this process instead of on a Temporal worker (not durable)', false)
    .option('--workflow-id <id>', 'workflow ID to use (default: list-<UTC time>)')
    .addHelpText('after', '\nExamples:\n  $ fbb list --local\n  $ fbb list --include-s3 --json\n')
    .action(async (opts: { includeS3: boolean; json: boolean; local: boolean; workflowId?: string }) => {
      const config = ctx.config();
      const runner = await openRunner(config, { local: opts.local, notice: ctx.notice, connect: ctx.connect });
      try {
        const started = await runner.start(listBackups, { args: [{ include_s3: opts.includeS3 }], workflowId: opts.workflowId ?? listWorkflowId(), explicitId: opts.workflowId !== undefined });
        const catalog = await resultWithin(started.result(), 120_000, config.temporal.taskQueue).catch((err: unknown) => {
          if (err instanceof CliError) throw err;
          const { message, exitCode } = describeFailure('list', err);
          throw new CliError(exitCode === ExitCode.badInput ? message : `${message}\nSee "fbb doctor${opts.local ? ' --local' : ''}" for the environment checks.`, exitCode);
        });
        if (opts.json) printJson(catalog, ctx.stdout);
        else ctx.stdout.write(`${formatCatalog(catalog)}\n`);
        for (const w of catalog.warnings) ctx.notice(`fbb: warning: ${w}`);
        ctx.setExitCode(ExitCode.ok);
      } finally {
        await runner.close();
      }
    });
}

/** STATE column: what was checked, in a word or two. */
const STATE_LABELS: Record<Catalog['backups'][number]['state'], string> = {
  verified: 'verified',
  dumped: 'UNVERIFIED',
  legacy: 'no manifest',
  unreadable: 'manifest unreadable',
  damaged: 'DAMAGED: size differs',
};

/** The catalogue as a table. */
export function formatCatalog(catalog: Catalog): string {
  const rows = [['FILE', 'TYPE', 'CREATED (UTC)', 'SIZE MB', 'STATE', 'ROWS', 'WHERE']];
  for (const b of catalog.backups) {
    const state = STATE_LABELS[b.state];
    rows.push([b.filename, b.type, b.created_at.replace('T', ' ').slice(0, 19), b.size_mb.toFixed(2), state, b.total_rows?.toLocaleString('en-US') ?? '-', b.locations.join('+')]);
  }
  const problems = catalog.backups.flatMap((b) => b.problems.map((p) => `  ${b.filename}: ${p}`));
  const aside = catalog.aside_databases.map((d) => `  ${d.name} (renamed aside ${d.created_at.replace('T', ' ').slice(0, 19)} UTC)`);
  const leftovers = (catalog.leftovers ?? []).map((l) => `  ${l.kind.replace(/_/g, ' ')} ${l.name}: ${l.note}`);
  const listing =
    catalog.backups.length === 0
      ? ['no backups yet: make one with "fbb backup"']
      : [formatTable(rows), '(verified: restored and checked when made, and its size still matches the manifest; the SHA-256 is checked when restoring)'];
  const window = catalog.restorable_window;
  const pitr = window ? ['', `restorable to any moment from ${window.oldest} to ${window.newest} (${window.base_backups} base backup${window.base_backups === 1 ? '' : 's'} with their WAL): fbb restore --to-time <moment> --target-dir DIR`] : [];
  const failed = catalog.failed_base_backups;
  return [
    ...listing,
    ...pitr,
    ...(failed ? ['', failed.detail, `  ${failed.next}`] : []),
    ...(problems.length ? ['', 'problems:', ...problems] : []),
    ...(aside.length ? ['', 'databases kept from earlier restores:', ...aside] : []),
    ...(leftovers.length ? ['', 'left behind by earlier runs (fbb doctor reports them too):', ...leftovers] : []),
  ].join('\n');
}
