// The --local engine's WorkflowRunner: the project's workflows on a throwaway Temporal server with a
// worker in this process (throwawayTemporal.ts); the records in BACKUP_DIR and system_logs stand in
// for a durable server's memory of workflow IDs, which the throwaway server loses when the command ends.
import type { Workflow } from '@temporalio/common';
import { WORKFLOW_TYPES } from './history/entry';
import { CliError, ExitCode } from './exitCodes';
import { findLocalRun, type PreviousRun } from './history/systemLogs';
import { otherType, type StartedWorkflow, type WorkflowRunner } from './runner';
import { temporalRunner } from './temporalRunner';
import { startThrowawayTemporal } from './throwawayTemporal';
import type { Config } from '../config';
import { stopLocalServers } from '../activities/verifyServer/server';

/** Notice printed before every --local run. */
export const LOCAL_NOTICE =
  'fbb: --local: running on a throwaway Temporal server with a worker in this process. This run is not durable: if this process stops, the run is lost and nothing resumes it.';

/** Opens the --local runner: prints LOCAL_NOTICE, then starts the throwaway server and its worker. */
export async function openLocalRunner(config: Config, notice: (line: string) => void): Promise<WorkflowRunner> {
  notice(LOCAL_NOTICE);
  // What the worker's activities say (the lock taken over, leftovers removed) goes where the command's notices go.
  const temporal = await startThrowawayTemporal(config, { notice });
  const onServer = temporalRunner(temporal.client, temporal.config);
  return {
    local: true,
    async start(workflow, options) {
      const previous = await previousLocalRun(config, workflow.name, options.workflowId);
      if (previous) return previous as StartedWorkflow<typeof workflow>;
      const started = await onServer.start(workflow, options);
      return { ...started, result: () => Promise.race([started.result(), temporal.workerFailed]) };
    },
    workersPolling: async () => undefined,
    // The worker in this process may have started a verification server: it stops with the process.
    close: () => temporal.stop().finally(() => stopLocalServers()),
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
