import type { Config } from '../config';
import { withFileAffinity } from './affinity';
import { createBackupActivities } from './backup';
import { createBaseBackupActivities } from './basebackup';
import { createDoctorActivities } from './doctor';
import { createDrillActivities } from './drill';
import { createNotifyActivities } from './notify';
import { createRestoreActivities } from './restore';
import { createPartialActivities } from '../partial/activities';
import { createWalActivities } from './wal';

/** What activities need from the outside world; secrets stay here, out of workflow inputs. */
export interface ActivityDeps {
  config: Config;
  /** True when the activities run in the CLI's own process (--local): a run then dies with it. */
  local?: boolean;
  /** A production worker's own task queue (only it polls it): the steps that read a backup file are sent there. */
  workerQueue?: string;
  /** The database lock the workflows take: "temporal" on production workers (no shared directory needed), else the file lock. */
  lock?: 'file' | 'temporal';
  /** With `local`: where the activities tell the user what the lock and the clean-up did (the CLI's stderr; default process.stderr). */
  notice?: (line: string) => void;
}

/** Every activity the worker registers, built from injected dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDoctorActivities(deps.config),
    ...createBackupActivities(deps.config, { local: deps.local, workerQueue: deps.workerQueue, lock: deps.lock, notice: deps.notice }),
    ...withFileAffinity(deps.config, createRestoreActivities(deps.config), deps.workerQueue),
    ...createDrillActivities(deps.config, deps.workerQueue),
    ...createNotifyActivities(deps.config),
    ...createPartialActivities(deps.config),
    ...createBaseBackupActivities(deps.config, deps.workerQueue),
    ...createWalActivities(deps.config),
  };
}

/** The activity interface workflows proxy (import it with `import type`). */
export type Activities = ReturnType<typeof createActivities>;
