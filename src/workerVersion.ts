// Worker Versioning: which version of the worker deployment a worker is (deployment name and build
// ID) and the worker options that make it poll as that version. Which workflow types are PINNED and
// which AUTO_UPGRADE is declared beside the workflows (src/workflows/versioning.ts).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { WorkerDeploymentOptions } from '@temporalio/worker';
import type { Config } from './config';
import { projectRoot } from './projectRoot';

/** The worker deployment every worker of this project belongs to unless WORKER_DEPLOYMENT_NAME says otherwise. */
export const DEFAULT_DEPLOYMENT_NAME = 'family-brain-backup';

/** What a starting worker does about the deployment's current version (docs/deployment.md#rolling-out-a-new-version). */
export type SetCurrent = 'if_none' | 'always' | 'never';

/** A versioned worker's identity and routing policy. */
export interface WorkerVersion {
  version: WorkerDeploymentVersion;
  setCurrent: SetCurrent;
}

/** The package's version, from package.json in the checkout (or the image); "0.0.0" for a build without one (the tests' builds outside the checkout). */
function packageVersion(): string {
  const file = path.join(projectRoot(), 'package.json');
  if (!fs.existsSync(file)) return '0.0.0';
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version?: string }).version ?? '0.0.0';
}

/** The default build ID: `<package version>-<first 12 hex of the workflow bundle's sha256>`; new workflow code means a new version. */
export function defaultBuildId(bundleCode: string | Buffer): string {
  return `${packageVersion()}-${createHash('sha256').update(bundleCode).digest('hex').slice(0, 12)}`;
}

/**
 * This worker's version from `config.worker.versioning` (unset: on, with the defaults), or undefined
 * with WORKER_VERSIONING=false. `setCurrent` applies when WORKER_SET_CURRENT is unset.
 */
export function workerVersionFor(config: Config, bundleCode: string | Buffer, setCurrent: SetCurrent): WorkerVersion | undefined {
  const v = config.worker.versioning;
  if (v?.enabled === false) return undefined;
  return {
    version: { deploymentName: v?.deploymentName ?? DEFAULT_DEPLOYMENT_NAME, buildId: v?.buildId ?? defaultBuildId(bundleCode) },
    setCurrent: v?.setCurrent ?? setCurrent,
  };
}

/**
 * The WorkerOptions part that makes a worker poll as `version` (nothing for an unversioned worker).
 * Workflow types without a behaviour of their own in src/workflows/versioning.ts would AUTO_UPGRADE.
 */
export function deploymentOptions(version: WorkerVersion | undefined): { workerDeploymentOptions?: WorkerDeploymentOptions } {
  if (version === undefined) return {};
  return { workerDeploymentOptions: { useWorkerVersioning: true, version: version.version, defaultVersioningBehavior: 'AUTO_UPGRADE' } };
}

/** `<deployment>.<build ID>`, as the Temporal CLI and Web UI show a version. */
export function versionName(version: WorkerDeploymentVersion): string {
  return `${version.deploymentName}.${version.buildId}`;
}
