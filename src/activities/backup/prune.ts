import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { escapeIdentifier } from 'pg';
import { parseAsideDatabaseName, parseBackupName, timestampToDate } from '../../backup/naming';
import { applyRetention, cutoff, type RetentionCandidate, type RetentionDecision } from '../../backup/retention';
import type { Config } from '../../config';
import { openStores, storeList } from '../../storage/stores';
import { asideDatabases } from '../catalog';
import { withClient } from '../db';
import { pausePoint } from '../pausePoint';
import { runningScratchServers } from '../verifyServer/running';
import { sweepMomentClusters } from '../basebackup/moment';
import { scratchName } from './verify';
import { dropDatabase } from '../restore/databases';
import { sweepUnclaimedScratch } from '../scratchClaim';
import { sweepDrillDirectories } from '../drill';
import type { BackupStore, Location, StoredBackup } from '../../storage/store';
import { ApplicationFailure } from '@temporalio/common';
import { describeS3Error, s3Hint, s3Unavailable } from '../doctor/s3';

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
 * reports. Deleting is idempotent, so a retried attempt finishes what an earlier one began; each
 * removal is recorded in the activity's heartbeat, so the retry reports the earlier attempt's
 * removals too (a killed worker's prune still lists everything it removed).
 */
export async function pruneBackups(config: Config, options: { dryRun: boolean; now?: string }): Promise<PruneDecision[]> {
  const now = options.now ? new Date(options.now) : new Date();
  const ctx = activityContext();
  const earlier = options.dryRun ? [] : removedEarlier(ctx);
  const stores = openStores(config);
  try {
    const decisions: PruneDecision[] = [];
    const removed = [...earlier];
    for (const store of storeList(stores)) {
      const backups = await inS3(store, 'list the backups', () => store.list());
      const candidates = backups.map((b) => retentionCandidate(b, config.backup.timezone));
      for (const d of applyRetention(candidates, config.backup.retention, now)) {
        const remove = d.action === 'remove' && !options.dryRun;
        const decision = { ...d, location: store.location, removed: remove };
        decisions.push(decision);
        if (!remove) continue;
        await inS3(store, `delete ${d.filename}`, () => store.remove(d.filename));
        removed.push(decision);
        ctx?.heartbeat({ step: 'prune', removed });
        await pausePoint('prune');
      }
    }
    // What an earlier attempt removed is gone from the listings: report it as removed all the same.
    const listed = new Set(decisions.map((d) => `${d.location}:${d.filename}`));
    return [...earlier.filter((d) => !listed.has(`${d.location}:${d.filename}`)), ...decisions];
  } finally {
    stores.close();
  }
}

/**
 * Runs `work` on `store`; an S3 failure becomes S3Unavailable naming the bucket and the next step
 * (soak: S3 down during a prune said only "Error: read ECONNRESET"): retried by the activity's policy
 * when S3 may come back, not when the bucket, credentials or region are wrong. Local failures pass as they are.
 */
async function inS3<T>(store: BackupStore, what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (store.location !== 's3' || err instanceof ApplicationFailure) throw err;
    throw s3Unavailable(err, `cannot ${what} in ${store.where()} (${describeS3Error(err)}); ${s3Hint(err)}; the local copies were pruned on their own, and nothing else was removed from S3`);
  }
}

/** The running activity's context; undefined when called outside an activity (a test, a script). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/** Removals an earlier attempt of this activity recorded in its last heartbeat. */
function removedEarlier(ctx: Context | undefined): PruneDecision[] {
  const details = ctx?.info.heartbeatDetails as { step?: string; removed?: PruneDecision[] } | undefined;
  return details?.step === 'prune' && Array.isArray(details.removed) ? details.removed : [];
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

/** Something a killed or crashed run left behind. */
export interface Leftover {
  kind: 'partial_file' | 'scratch_database' | 'restoring_database' | 'closed_database' | 'scratch_cluster' | 'drill_directory';
  name: string;
  /** True once removed (or, for a closed database, opened again). */
  removed: boolean;
}

const PARTIAL = /^\.(.+)\.partial-[0-9a-f]+$/;

/**
 * What runs of this database that are no longer running left behind: partial dump files older
 * than `before`, scratch databases verifying this directory's backups (and, unless `dryRun`, any no
 * running verification or drill claims, of any directory: see scratchClaim.ts), half-restored
 * `<db>_restoring_*` databases; and databases of ours closed to connections (versions before 0.2
 * did that during a swap). Unless `dryRun`, removes them; closed databases are opened only with
 * `openClosed` (the caller took over a dead restore's lock: the closing was ours). Call it only
 * while holding the database's lock: then no other run of this database can be making them.
 */
export async function cleanLeftovers(config: Config, options: { dryRun: boolean; before: Date; openClosed?: boolean }): Promise<Leftover[]> {
  const dir = config.backup.dir;
  const live = config.database.database;
  const found: Leftover[] = [];
  const names = new Set<string>();
  const stalePartials: string[] = [];
  for (const entry of await fs.readdir(dir).catch(() => [] as string[])) {
    const partial = PARTIAL.exec(entry);
    const parsed = parseBackupName(partial ? partial[1]! : entry);
    if (parsed === undefined || parsed.prefix !== config.backup.prefix) continue;
    names.add(parsed.filename);
    if (!partial) continue;
    const stat = await fs.stat(path.join(dir, entry)).catch(() => undefined);
    if (stat !== undefined && stat.mtime < options.before) stalePartials.push(entry);
  }
  const scratch = new Set([...names].map((n) => scratchName(config, n)));
  const { rows } = await withClient(
    config.database,
    (c) => c.query<{ datname: string; datallowconn: boolean }>("SELECT datname, datallowconn FROM pg_database WHERE datname LIKE 'fbb\\_verify\\_%' OR starts_with(datname, $1)", [live]),
    config.database.maintenanceDatabase,
  );
  const restoring = new RegExp(`^${live.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_restoring_\\d{8}_\\d{6}$`);
  const ours = (name: string) => name === live || parseAsideDatabaseName(live, name) !== undefined || name.startsWith(`${live}_failed_restore_`);
  for (const { datname, datallowconn } of rows) {
    const kind = scratch.has(datname) ? 'scratch_database' : restoring.test(datname) ? 'restoring_database' : undefined;
    if (kind !== undefined) {
      if (!options.dryRun) await dropDatabase(config, datname);
      found.push({ kind, name: datname, removed: !options.dryRun });
    } else if (!datallowconn && ours(datname)) {
      const open = !options.dryRun && options.openClosed === true;
      if (open) await withClient(config.database, (c) => c.query(`ALTER DATABASE ${escapeIdentifier(datname)} WITH ALLOW_CONNECTIONS true`), config.database.maintenanceDatabase);
      found.push({ kind: 'closed_database', name: datname, removed: open });
    }
  }
  // A restore to a moment killed while its scratch cluster ran: the cluster is stopped and removed.
  found.push(...(await sweepMomentClusters(config, options)));
  for (const server of await runningScratchServers(config)) {
    const there = await withClient(server.database, (c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_verify\\_%'"), server.database.maintenanceDatabase).catch(() => ({ rows: [] }));
    for (const { datname } of there.rows.filter((r) => scratch.has(r.datname))) {
      if (!options.dryRun) await dropDatabase(server, datname);
      found.push({ kind: 'scratch_database', name: `${datname} (on ${server.database.host})`, removed: !options.dryRun });
    }
  }
  // Scratch databases no running verification or drill claims, whatever host or directory left them
  // (a drill takes no database lock, another database's backup holds another: the claim tells).
  // Dropped, not listed: a dry run (fbb list, fbb doctor) reports this directory's own only.
  if (!options.dryRun) {
    found.push(...(await sweepUnclaimedScratch(config)));
    for (const server of await runningScratchServers(config)) found.push(...(await sweepUnclaimedScratch(server, { on: server.database.host }).catch(() => [])));
  }
  // What drills killed on this host fetched from S3 and left in BACKUP_DIR.
  found.push(...(await sweepDrillDirectories(dir, options)));
  // Partial files last: a partial file names its scratch database, so it goes only once that was dropped.
  const partials: Leftover[] = [];
  for (const entry of stalePartials) {
    if (!options.dryRun) await fs.rm(path.join(dir, entry), { force: true });
    partials.push({ kind: 'partial_file', name: entry, removed: !options.dryRun });
  }
  return [...partials, ...found];
}
