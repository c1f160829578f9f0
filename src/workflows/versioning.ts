// Worker Versioning behaviour of every workflow type, in one table (docs/deployment.md#worker-versioning).
// PINNED: the run stays on the worker version that started it, however long it waits (restores wait
// on a person for hours; the code that asked the question is the code that acts on the answer).
// AUTO_UPGRADE: the run moves to the deployment's current version at its next workflow task, so its
// code changes are guarded by patched() and held to the recorded histories (test/replay.test.ts).
import { setWorkflowOptions, workflowInfo } from '@temporalio/workflow';
import type { VersioningBehavior, WorkflowDefinitionOptions } from '@temporalio/common';
import { backupDatabase } from './backupDatabase';
import { checkEnvironment } from './checkEnvironment';
import { listBackups } from './listBackups';
import { databaseLock } from './lock';
import { restoreDatabase } from './restoreDatabase';
import { restoreDrill } from './restoreDrill';
import { restoreTable } from './restoreTable';
import { restoreTenant } from './restoreTenant';

/**
 * Each workflow type's behaviour. The lock workflow only waits for its holder's release signal and
 * must keep answering it whatever version is current: AUTO_UPGRADE (a child of a pinned restore starts
 * on the restore's version). A drill is a short unattended run like a backup: AUTO_UPGRADE.
 */
export const VERSIONING_BEHAVIORS = {
  backupDatabase: 'AUTO_UPGRADE',
  listBackups: 'AUTO_UPGRADE',
  checkEnvironment: 'AUTO_UPGRADE',
  restoreDrill: 'AUTO_UPGRADE',
  databaseLock: 'AUTO_UPGRADE',
  restoreDatabase: 'PINNED',
  restoreTenant: 'PINNED',
  restoreTable: 'PINNED',
} as const satisfies Record<string, VersioningBehavior>;

/**
 * The options of a workflow type with behaviour `behavior`, decided as the run starts on this worker:
 * none on an unversioned worker (WORKER_VERSIONING=false, a replay), which the server refuses a
 * behaviour from ("versioning behavior cannot be specified without deployment options being set
 * with versioned mode": every workflow task of the run would fail).
 */
function versioned(behavior: VersioningBehavior): () => WorkflowDefinitionOptions {
  // An unversioned worker reports its build ID with an empty deployment name.
  return () => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: behavior } : {});
}

setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.backupDatabase), backupDatabase);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.listBackups), listBackups);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.checkEnvironment), checkEnvironment);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.restoreDrill), restoreDrill);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.databaseLock), databaseLock);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.restoreDatabase), restoreDatabase);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.restoreTenant), restoreTenant);
setWorkflowOptions(versioned(VERSIONING_BEHAVIORS.restoreTable), restoreTable);
