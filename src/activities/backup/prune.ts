import { timestampToDate } from '../../backup/naming';
import { applyRetention, cutoff, type RetentionCandidate, type RetentionDecision } from '../../backup/retention';
import type { Config } from '../../config';
import { openStores, storeList } from '../../storage/stores';
import { asideDatabases } from '../catalog';
import { dropDatabase } from '../restore/databases';
import type { Location, StoredBackup } from '../../storage/store';

/** One retention decision in one place. */
export interface PruneDecision extends RetentionDecision {
  location: Location;
  /** True once the file was deleted; false on a dry run or a keep. */
  removed: boolean;
}

/** What retention sees of a stored backup: the manifest's facts, or the name's for Windmill-era files. */
export function retentionCandidate(backup: StoredBackup, timeZone: string): RetentionCandidate {
  return {
    filename: backup.name.filename,
    type: backup.name.type,
    createdAt: backup.manifest ? new Date(backup.manifest.created_at) : timestampToDate(backup.name.timestamp, timeZone),
    verified: backup.manifest ? backup.manifest.status === 'verified' : null,
  };
}

/**
 * Applies retention to the local directory and, when configured, to S3, each on its own: a
 * backup's newest verified copy is protected in every place it is kept. With `dryRun`, only
 * reports. Deleting is idempotent, so a retried attempt finishes what an earlier one began.
 */
export async function pruneBackups(config: Config, options: { dryRun: boolean; now?: string }): Promise<PruneDecision[]> {
  const now = options.now ? new Date(options.now) : new Date();
  const stores = openStores(config);
  try {
    const decisions: PruneDecision[] = [];
    for (const store of storeList(stores)) {
      const backups = await store.list();
      const candidates = backups.map((b) => retentionCandidate(b, config.backup.timezone));
      for (const d of applyRetention(candidates, config.backup.retention, now)) {
        const remove = d.action === 'remove' && !options.dryRun;
        if (remove) await store.remove(d.filename);
        decisions.push({ ...d, location: store.location, removed: remove });
      }
    }
    return decisions;
  } finally {
    stores.close();
  }
}

/** A decision about a database a restore renamed aside. */
export interface AsideDecision {
  database: string;
  action: 'keep' | 'remove';
  reason: string;
  removed: boolean;
}

/** Drops databases renamed aside by restores once they are older than RETENTION_ASIDE_DATABASE_DAYS. */
export async function pruneAsideDatabases(config: Config, options: { dryRun: boolean; now?: string }): Promise<AsideDecision[]> {
  const now = options.now ? new Date(options.now) : new Date();
  const limit = cutoff({ days: config.backup.asideDatabaseDays }, now);
  const decisions: AsideDecision[] = [];
  for (const aside of await asideDatabases(config)) {
    if (new Date(aside.created_at) >= limit) {
      decisions.push({ database: aside.name, action: 'keep', reason: `kept aside by a restore less than ${config.backup.asideDatabaseDays} days ago`, removed: false });
      continue;
    }
    if (!options.dryRun) await dropDatabase(config, aside.name);
    decisions.push({ database: aside.name, action: 'remove', reason: `kept aside by a restore on ${aside.created_at}, more than ${config.backup.asideDatabaseDays} days ago`, removed: !options.dryRun });
  }
  return decisions;
}
