// The --local engine's WorkflowRunner: the project's workflows in Temporal's sandbox in this process,
// with the records in BACKUP_DIR and system_logs standing in for the server's memory of workflow IDs.
import type { Workflow } from '@temporalio/common';
import { createActivities } from '../activities';
import { WORKFLOW_TYPES } from '../client/history/entry';
import { CliError, ExitCode } from '../client/exitCodes';
import { otherType, type StartedWorkflow, type WorkflowRunner } from '../client/runner';
import type { Config } from '../config';
import { findLocalRun, type PreviousRun } from './history';
import { LocalRuntime } from './localRuntime';

/** Notice printed before every --local run. */
export const LOCAL_NOTICE =
  'fbb: --local: running in this process without a Temporal server. This run is not durable: if this process stops, the run is lost and nothing resumes it.';

/** Opens the --local runner: prints LOCAL_NOTICE, then bundles the workflows and prepares the sandbox. */
export async function openLocalRunner(config: Config, notice: (line: string) => void): Promise<WorkflowRunner> {
  notice(LOCAL_NOTICE);
  const runtime = await LocalRuntime.create({ activities: createActivities({ config, local: true }), clock: 'real', taskQueue: config.temporal.taskQueue });
  return {
    local: true,
    async start(workflow, { args, workflowId }) {
      const previous = await previousLocalRun(config, workflow.name, workflowId);
      if (previous) return previous as StartedWorkflow<typeof workflow>;
      const handle = await runtime.start(workflow, { args, workflowId });
      return {
        workflowId,
        existing: null,
        result: () => handle.result(),
        query: (def, ...a) => handle.query(def, ...a),
        signal: (def, ...a) => handle.signal(def, ...a),
        pendingActivities: async () => handle.pendingActivities(),
      };
    },
    workersPolling: async () => undefined,
    close: () => runtime.shutdown(),
  };
}

/**
 * What the records here say about `workflowId` (a backup or restore only): a finished backup's
 * result stands in for a new run; a run still going in another process, or a restore that already
 * ran, is refused. Unreadable records start the run as asked: its own checks report the problem.
 */
async function previousLocalRun(config: Config, workflowType: string, workflowId: string): Promise<StartedWorkflow<Workflow> | undefined> {
  if (workflowType !== WORKFLOW_TYPES.backup && workflowType !== WORKFLOW_TYPES.restore) return undefined;
  const previous: PreviousRun | undefined = await findLocalRun(config, workflowId).catch(() => undefined);
  if (previous === undefined) return undefined;
  const type = WORKFLOW_TYPES[previous.kind];
  if (type !== workflowType) throw otherType(workflowId, type, workflowType);
  if (previous.state === 'running') {
    throw new CliError(
      `${previous.kind} ${workflowId} is already running in another process (since ${previous.since}); nothing was started; wait for it to finish, then run this again for its result, or see "fbb history --local"`,
      ExitCode.failed,
    );
  }
  if (previous.kind === 'restore') {
    throw new CliError(
      `restore ${workflowId} already ran here (its pre-restore backup ${previous.pre_restore_backup} was made at ${previous.since}), and a restore's outcome is not recorded, so it is not run again; nothing was started; ` +
        'see "fbb history --local --type restore", and to restore again use another --workflow-id',
      ExitCode.badInput,
    );
  }
  const result = previous.result;
  const finished = async (): Promise<never> => {
    throw new Error(`${workflowId} has finished`);
  };
  return { workflowId, existing: { state: 'completed', since: previous.since }, result: async () => result, query: finished, signal: finished, pendingActivities: async () => [] };
}
