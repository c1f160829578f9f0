import type { Config } from '../config';
import { createBackupActivities } from './backup';
import { createDoctorActivities } from './doctor';
import { createDrillActivities } from './drill';
import { createNotifyActivities } from './notify';
import { createRestoreActivities } from './restore';
import { createPartialActivities } from '../partial/activities';

/** What activities need from the outside world; secrets stay here, out of workflow inputs. */
export interface ActivityDeps {
  config: Config;
  /** True when the activities run in the CLI's own process (--local): a run then dies with it. */
  local?: boolean;
}

/** Every activity the worker registers, built from injected dependencies. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createDoctorActivities(deps.config),
    ...createBackupActivities(deps.config, { local: deps.local }),
    ...createRestoreActivities(deps.config),
    ...createDrillActivities(deps.config),
    ...createNotifyActivities(deps.config),
    ...createPartialActivities(deps.config),
  };
}

/** The activity interface workflows proxy (import it with `import type`). */
export type Activities = ReturnType<typeof createActivities>;
