// Routing to a versioned worker: the server sends new runs only to the deployment's current version,
// and a new deployment has none, so versioned workers would sit idle. A starting worker settles it
// here: it makes its version current when asked to (WORKER_SET_CURRENT), else says what to run.
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { versionName, type WorkerVersion } from './workerVersion';

type WorkflowService = temporal.api.workflowservice.v1.WorkflowService;

/** What ensureCurrentVersion found or did. */
export interface VersionRouting {
  /** `current`: it already was; `made_current`: this call made it so; `not_current`: another version (or none) stays current. */
  outcome: 'current' | 'made_current' | 'not_current';
  /** The current version before this call (undefined: none). */
  previous: WorkerDeploymentVersion | undefined;
  /** One line for the log: what happened and, when not current, the command that rolls this version out. */
  message: string;
}

/** The worker's version could not be made current: what was tried, the server's answer, what to do. */
export class VersionRoutingError extends Error {
  override readonly name = 'VersionRoutingError';
}

/** gRPC codes worth another try while the worker's pollers reach the server (9: missing task queues, no pollers yet; 5, 10, 14: not there yet, conflict, unavailable). */
const RETRYABLE_CODES = new Set([5, 9, 10, 14]);

/** The `temporal` command that makes `version` current (the operator's rollout step). */
export function setCurrentCommand(version: WorkerDeploymentVersion, namespace: string): string {
  const ns = namespace === 'default' ? '' : ` --namespace ${namespace}`;
  return `temporal worker deployment set-current-version${ns} --deployment-name ${version.deploymentName} --build-id ${version.buildId}`;
}

/** The deployment's routing now: its current version (undefined: none, or no deployment yet) and the token that guards a change. */
async function routingOf(service: WorkflowService, namespace: string, deploymentName: string): Promise<{ current: WorkerDeploymentVersion | undefined; conflictToken: Uint8Array | undefined }> {
  try {
    const { workerDeploymentInfo, conflictToken } = await service.describeWorkerDeployment({ namespace, deploymentName });
    const current = workerDeploymentInfo?.routingConfig?.currentDeploymentVersion;
    return { current: current?.buildId ? { deploymentName, buildId: current.buildId } : undefined, conflictToken: conflictToken ?? undefined };
  } catch (err) {
    if ((err as { code?: number }).code === 5) return { current: undefined, conflictToken: undefined };
    throw err;
  }
}

/**
 * Makes `worker.version` current when its policy says so: `if_none` when the deployment has no
 * current version, `always` whatever is current, `never` not at all. Call it once the worker polls;
 * a rejection while its pollers reach the server (missing task queues) is tried again for `timeoutMs`.
 */
export async function ensureCurrentVersion(options: { service: WorkflowService; namespace: string; worker: WorkerVersion; identity: string; timeoutMs?: number }): Promise<VersionRouting> {
  const { service, namespace, worker, identity } = options;
  const mine = worker.version;
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let first: WorkerDeploymentVersion | undefined | null = null;
  let tried = false;
  for (;;) {
    const { current, conflictToken } = await routingOf(service, namespace, mine.deploymentName);
    if (first === null) first = current;
    if (current?.buildId === mine.buildId) {
      if (!tried) return { outcome: 'current', previous: first, message: `worker version ${versionName(mine)} is the current version of deployment ${mine.deploymentName}` };
      return { outcome: 'made_current', previous: first, message: `made worker version ${versionName(mine)} the current version of deployment ${mine.deploymentName} (${first ? `it was ${versionName(first)}` : 'it had none'})` };
    }
    if (worker.setCurrent === 'never' || (worker.setCurrent === 'if_none' && current !== undefined)) {
      // The rollout command the message gives is refused while this version lacks a queue the current one has.
      const missing = current ? await queuesMissing(service, namespace, mine, current, deadline) : [];
      return notCurrent(mine, current, namespace, missing);
    }
    tried = true;
    try {
      // allowNoPollers: the first version may be made current before the server has seen its pollers.
      await service.setWorkerDeploymentCurrentVersion({ namespace, deploymentName: mine.deploymentName, buildId: mine.buildId, identity, allowNoPollers: true, conflictToken });
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === undefined || !RETRYABLE_CODES.has(code) || Date.now() > deadline) {
        throw new VersionRoutingError(
          `could not make worker version ${versionName(mine)} the current version of deployment ${mine.deploymentName}: ${(err as Error).message}; ` +
            `run "${setCurrentCommand(mine, namespace)}" once this worker polls, or set WORKER_SET_CURRENT=never (and make it current yourself) or WORKER_VERSIONING=false`,
          { cause: err },
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The task queues (name/type) a version has been seen polling, as the server lists them. */
async function queuesOf(service: WorkflowService, namespace: string, version: WorkerDeploymentVersion): Promise<Set<string>> {
  try {
    const { workerDeploymentVersionInfo } = await service.describeWorkerDeploymentVersion({ namespace, deploymentVersion: version });
    return new Set((workerDeploymentVersionInfo?.taskQueueInfos ?? []).map((q) => `${q.name}/${q.type}`));
  } catch (err) {
    if ((err as { code?: number }).code === 5) return new Set();
    throw err;
  }
}

/**
 * Waits (until `deadline`) for `mine` to poll every task queue `current` has: before that the server
 * refuses to make `mine` current ("missing active task queues"). Returns the queues still missing.
 */
async function queuesMissing(service: WorkflowService, namespace: string, mine: WorkerDeploymentVersion, current: WorkerDeploymentVersion, deadline: number): Promise<string[]> {
  const wanted = await queuesOf(service, namespace, current);
  for (;;) {
    const have = await queuesOf(service, namespace, mine);
    const missing = [...wanted].filter((q) => !have.has(q));
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The routing of a worker whose version stays out of the way: what receives new runs, and how to roll this one out. */
function notCurrent(mine: WorkerDeploymentVersion, current: WorkerDeploymentVersion | undefined, namespace: string, missing: string[] = []): VersionRouting {
  const now = current
    ? `its current version is ${versionName(current)}, which gets every new run; this worker serves only runs pinned to ${versionName(mine)}`
    : 'it has no current version, so no versioned worker gets new runs';
  return {
    outcome: 'not_current',
    previous: current,
    message:
      `worker version ${versionName(mine)} is not the current version of deployment ${mine.deploymentName}: ${now}. ` +
      (missing.length > 0 ? `It does not poll ${missing.map((q) => q.split('/')[0]).join(', ')} yet, which ${versionName(current!)} polls; the server refuses to make it current until it does. ` : '') +
      `To roll it out run "${setCurrentCommand(mine, namespace)}" (or gradually: temporal worker deployment set-ramping-version --deployment-name ${mine.deploymentName} --build-id ${mine.buildId} --percentage 10)`,
  };
}
