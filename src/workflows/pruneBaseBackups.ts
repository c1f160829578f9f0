import type { PhysicalPruneDecision } from '../activities/basebackup/prune';
import { longActivities, quick } from './proxies';

/** Input of pruneBaseBackups: `dry_run` reports what retention would remove and changes nothing. */
export interface PruneBaseBackupsInput {
  dry_run?: boolean;
}

/** Base-backup and WAL retention without taking a backup (`fbb basebackup --prune-only [--dry-run]`). */
export async function pruneBaseBackups(input: PruneBaseBackupsInput = {}): Promise<{ dry_run: boolean; decisions: PhysicalPruneDecision[] }> {
  const settings = await quick.backupSettings();
  const decisions = await longActivities(settings.activity_tuning).housekeeping.prunePhysicalBackups({ dry_run: input.dry_run === true });
  return { dry_run: input.dry_run === true, decisions };
}
