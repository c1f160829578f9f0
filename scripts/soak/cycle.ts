// One soak cycle: the operation through the real CLI, its fault at the planned instant, and the run's
// end as the Temporal server records it (the CLI may have lost the server meanwhile).
import type { Client } from '@temporalio/client';
import { inject, type Injected } from './faults';
import { RESTORABLE_TABLES, type CyclePlan } from './plan';
import { runFbb, type WorkerPool } from './processes';
import type { Rig } from './rig';
import type { Quiet } from './pitr';

/** A backup the soak knows: its file and the live state when it was made. */
export interface KnownBackup {
  filename: string;
  uploaded: boolean;
}

/** What a cycle did. */
export interface CycleRun {
  workflowId: string;
  args: string[];
  /** For restores: the file, and the tenant or table. */
  file?: string;
  tenant?: string;
  table?: string;
  /** For point-in-time restores: the moment (ms) and the quiet interval it is in (the live state then). */
  moment?: { at: number; quiet: Quiet };
  cli: { exitCode: number; stdout: string; stderr: string };
  /** The run's end on the server: COMPLETED (and its result says success), COMPLETED/<result status> (rolled_back, failed, …), FAILED, …, NOT_FOUND (never started), or RUNNING when it did not end in time. */
  status: string;
  result: unknown;
  injected: Injected | undefined;
  /** ms epoch when the run had ended (or the CLI gave up, for a run never started). */
  endedAt: number;
}

/** Longest a run may take, fault and retries included, before the soak calls it stuck. */
const RUN_LIMIT_MS = 6 * 60_000;

/** The CLI arguments of `plan`'s operation; undefined when it has nothing to work on (no verified backup yet). */
export function operationArgs(plan: CyclePlan, context: { backups: KnownBackup[]; tenants: string[]; workflowId: string; moment: (() => CycleRun['moment']) | undefined; perHost: boolean }): Omit<CycleRun, 'cli' | 'status' | 'result' | 'injected' | 'endedAt'> | undefined {
  const id = ['--json', '--workflow-id', context.workflowId];
  // Per host, a file only one host holds restores on that host's worker alone (another fails BackupNotFound, by
  // design): restores pick from the uploaded files while there are any, which every worker can fetch.
  const uploaded = context.backups.filter((b) => b.uploaded);
  const files = context.perHost && uploaded.length > 0 ? uploaded : context.backups;
  const file = files[Math.floor(plan.pick() * files.length)]?.filename;
  switch (plan.op) {
    case 'backup':
      return { workflowId: context.workflowId, args: ['backup', '--no-cleanup', ...id] };
    case 'backup_s3':
      return { workflowId: context.workflowId, args: ['backup', '--upload-to-s3', '--no-cleanup', ...id] };
    case 'prune':
      return { workflowId: context.workflowId, args: ['backup', '--type', 'daily', ...id] };
    case 'drill': {
      const s3 = context.backups.some((b) => b.uploaded) && plan.pick() < 0.5;
      return { workflowId: context.workflowId, args: ['drill', '--source', s3 ? 's3' : 'local', ...id] };
    }
    case 'restore':
      return file === undefined ? undefined : { workflowId: context.workflowId, file, args: ['restore', file, '--yes', ...id] };
    case 'restore_tenant': {
      const tenant = context.tenants[Math.floor(plan.pick() * context.tenants.length)];
      return file === undefined || tenant === undefined ? undefined : { workflowId: context.workflowId, file, tenant, args: ['restore', file, '--tenant', tenant, '--yes', ...id] };
    }
    case 'restore_table': {
      const table = RESTORABLE_TABLES[Math.floor(plan.pick() * RESTORABLE_TABLES.length)]!;
      return file === undefined ? undefined : { workflowId: context.workflowId, file, table, args: ['restore', file, '--table', table, '--yes', ...id] };
    }
    case 'pitr_restore':
    case 'pitr_tenant': {
      // Per host, the base backups and the WAL are spread over the hosts' directories; S3 holds them all.
      const moment = context.moment?.();
      const tenant = context.tenants[Math.floor(plan.pick() * context.tenants.length)];
      if (moment === undefined || tenant === undefined) return undefined;
      const args = ['restore', '--to-time', new Date(moment.at).toISOString(), ...(context.perHost ? ['--source', 's3'] : []), '--yes', ...id];
      if (plan.op === 'pitr_restore') return { workflowId: context.workflowId, moment, args };
      return { workflowId: context.workflowId, moment, tenant, args: [...args, '--tenant', tenant] };
    }
  }
}

/** Runs the operation, injects the fault at its instant, waits for the run to end on the server and for the fault to be mended. */
export async function runCycle(plan: CyclePlan, op: NonNullable<ReturnType<typeof operationArgs>>, context: { rig: Rig; pool: WorkerPool; faultAtMs: number }): Promise<CycleRun> {
  const client = await context.rig.client();
  const pick = plan.pick();
  const cli = runFbb(context.rig, op.args, RUN_LIMIT_MS);
  let injected: Injected | undefined;
  const faulting = new Promise<void>((resolve) =>
    setTimeout(() => {
      inject(plan.fault, { rig: context.rig, pool: context.pool, workflowId: op.workflowId, pick })
        .then((i) => void (injected = i))
        .catch((err: unknown) => void (injected = { at: Date.now(), what: `injecting failed: ${String(err)}`, mended: Promise.resolve() }))
        .finally(resolve);
    }, context.faultAtMs),
  );
  const [cliResult] = await Promise.all([cli, faulting]);
  const end = await runEnd(client, op.workflowId);
  await injected?.mended;
  context.pool.refill();
  return { ...op, cli: cliResult, ...end, injected };
}

/** Waits for `workflowId` to close on the server (it may be down for a moment); its status and result. */
async function runEnd(client: Client, workflowId: string): Promise<{ status: string; result: unknown; endedAt: number }> {
  const deadline = Date.now() + RUN_LIMIT_MS;
  for (;;) {
    try {
      const handle = client.workflow.getHandle(workflowId);
      const d = await handle.describe();
      if (d.status.name !== 'RUNNING') {
        const endedAt = d.closeTime?.getTime() ?? Date.now();
        const result: unknown = d.status.name === 'COMPLETED' ? await handle.result() : undefined;
        // A restore that rolled back, was refused or failed a step ends COMPLETED with that in its result.
        const said = (result as { status?: string } | undefined)?.status;
        const status = said === undefined || said === 'success' || said === 'passed' ? d.status.name : `${d.status.name}/${said}`;
        return { status, result, endedAt };
      }
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return { status: 'NOT_FOUND', result: undefined, endedAt: Date.now() };
      // The server is restarting: ask again.
    }
    if (Date.now() > deadline) return { status: 'RUNNING', result: undefined, endedAt: Date.now() };
    await new Promise((r) => setTimeout(r, 500));
  }
}
