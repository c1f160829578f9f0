// A restore drill: the newest verified backup, fetched from where it is kept, restored into a
// scratch database and checked against its manifest; then the scratch database is dropped.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { beatingWhile } from './stream';
import type { BackupManifest, RowSampleHash } from '../backup/manifest';
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';
import { copyBackup } from '../storage/copy';
import { LocalStore } from '../storage/localStore';
import { openStores } from '../storage/stores';
import { NotInStoreError, StoredCopyMismatchError, type BackupStore } from '../storage/store';
import { countRows } from './backup/inventory';
import { createScratch, dropScratch, scratchNeeds } from './backup/verify';
import { openScratchServer, type ScratchServer } from './verifyServer/target';
import { withClient } from './db';
import { diskError, isDiskError } from './failures';
import { describeS3Error, isS3Failure, s3Hint, s3Unavailable } from './doctor/s3';
import { processAlive } from './verifyServer/lock';
import { claimScratch, sweepUnclaimedScratch, type ScratchClaim } from './scratchClaim';
import { restoreFileInto } from './restoreFile';
import { compareSamples, legacySamples, sampleHashes } from './rowSample';

/** Which copy a drill restores. */
export type DrillSource = 'local' | 's3';

/** The backup a drill picked. */
export interface DrillPick {
  filename: string;
  source: DrillSource;
  created_at: string;
}

/** What a passed drill proved. */
export interface DrillReport {
  filename: string;
  source: DrillSource;
  /** Where the copy was read: s3://bucket/key or a local path. */
  location: string;
  backup_created_at: string;
  size_bytes: number;
  tables_checked: number;
  rows_checked: number;
  /** Tables whose sample of rows hashed as at verification. */
  samples_checked: number;
  /** Tables without a sample to compare (none recorded, or none computable now): only counted. */
  samples_missing: string[];
  /** Why each of samples_missing was only counted. */
  count_only?: Record<string, string>;
  /** Tables a restore recreates with their columns in another order (pg_dump's limitation); their samples compare by column name. */
  column_order_changed?: string[];
  scratch_database: string;
  duration_ms: number;
}

// How the drill restores: into a scratch database nobody uses (so pg_restore may run in parallel).
const SCRATCH_RESTORE = { step: 'drill', failureType: ErrorType.DrillFailed, target: 'scratch' } as const;

/** The newest verified backup of this database in `source` (another database's under the same prefix proves nothing of it); none is a non-retryable BackupNotFound. */
export async function pickDrillBackup(config: Config, source: DrillSource): Promise<DrillPick> {
  const stores = openStores(config);
  try {
    const store = storeFor(config, stores, source);
    const listed = await store.list();
    // The newest verified one even when its size no longer matches: a damaged newest backup is what a drill is for.
    const database = config.database.database;
    const verified = listed.filter((b) => b.manifest?.status === 'verified');
    const newest = verified.find((b) => (b.manifest!.database ?? database) === database);
    if (newest === undefined) {
      const others = [...new Set(verified.map((b) => b.manifest!.database))];
      const of = others.length > 0 ? `, none verified of database ${database}: the verified ones are of ${others.join(', ')}` : ', none verified';
      throw permanent(ErrorType.BackupNotFound, `no verified backup of ${database} in ${store.where()} to drill (${listed.length} backup file(s) there${of}); make one with "fbb backup${source === 's3' ? ' --upload-to-s3' : ''}" and drill again`);
    }
    return { filename: newest.name.filename, source, created_at: newest.manifest!.created_at };
  } finally {
    stores.close();
  }
}

/**
 * Fetches the backup (an S3 copy into a drill directory under BACKUP_DIR, checked against its
 * manifest's size and SHA-256 as it lands; never over the local copy), restores it into a scratch
 * database, and compares every table's row count and sample hash with the manifest. The scratch
 * database and the fetched copy are removed however this ends (a cancellation included). The scratch
 * database is claimed (scratchClaim.ts) while in use; one a killed drill left is unclaimed, and the
 * next drill on that server, or the next backup or restore's leftover sweep, drops it.
 * It reads nothing of the live database, so it takes no database lock and never blocks a backup.
 */
export async function drillBackup(config: Config, pick: Pick<DrillPick, 'filename' | 'source'>): Promise<DrillReport> {
  const started = Date.now();
  const ctx = Context.current();
  const scratch = drillScratchName(config, pick.filename);
  const workDir = path.join(config.backup.dir, `.${scratch}`);
  const stores = openStores(config);
  await fs.rm(workDir, { recursive: true, force: true });
  for (const left of await sweepDrillDirectories(config.backup.dir, { dryRun: false }).catch(() => [])) ctx.log.info(`removed ${left.name}, the directory of a drill killed on this host`);
  // Where the scratch database goes (VERIFY_TARGET); known once the manifest says what the backup needs.
  let server: ScratchServer | undefined;
  let claim: ScratchClaim | undefined;
  try {
    const store = storeFor(config, stores, pick.source);
    const unavailable = (err: unknown, what: string) => s3Unavailable(err, `cannot read ${what} in ${store.where()} (${describeS3Error(err)}); ${s3Hint(err, 'read')}; the drill restored nothing`);
    const manifest = await store.getManifest(pick.filename).catch((err: unknown) => {
      if (pick.source === 's3' && isS3Failure(err)) throw unavailable(err, `the manifest of "${pick.filename}"`);
      throw permanent(ErrorType.ManifestUnreadable, `the manifest of "${pick.filename}" in ${store.where()} cannot be read (${(err as Error).message}); the drill restored nothing`, err);
    });
    if (manifest === undefined) throw permanent(ErrorType.BackupNotFound, `"${pick.filename}" has no manifest in ${store.where()}; the drill restored nothing; run "fbb list --include-s3"`);
    let file = path.join(config.backup.dir, pick.filename);
    if (pick.source === 's3') {
      // The S3 copy is fetched into BACKUP_DIR: a full one is BackupDirFull (the soak, seed 2525: a bare "Error: ENOSPC").
      const fetched = async () => {
        await fs.mkdir(workDir, { recursive: true });
        await fs.writeFile(path.join(workDir, DRILL_OWNER), JSON.stringify({ host: os.hostname(), pid: process.pid }));
        await copyBackup(store, new LocalStore(workDir, config.backup.prefix), pick.filename, manifest, {
          signal: ctx.cancellationSignal,
          onProgress: (bytes) => ctx.heartbeat({ step: 'drill_fetch', bytes }),
        });
      };
      await fetched().catch((err: unknown) => {
        if (isDiskError(err)) throw diskError(err, config.backup.dir);
        if (isS3Failure(err)) throw unavailable(err, `"${pick.filename}"`);
        if (err instanceof NotInStoreError) throw permanent(ErrorType.BackupNotFound, `"${pick.filename}" is no longer in ${store.where()}; drill again`, err);
        if (err instanceof StoredCopyMismatchError) {
          throw permanent(ErrorType.BackupCorrupted, `the S3 copy ${store.where(pick.filename)} is not what its manifest says (${err.message}): the offsite copy is damaged; make a new backup with --upload-to-s3`, err);
        }
        throw err;
      });
      file = path.join(workDir, pick.filename);
    }
    server = await openScratchServer(config, scratchNeeds(manifest));
    const on = server.config;
    // Claimed while it is used: a sweep (this one, or a backup's) drops only unclaimed ones.
    claim = await claimScratch(on, scratch, ErrorType.DrillFailed);
    // What killed drills and verifications left on this server (of any backup directory), and this drill's own first.
    for (const left of await sweepUnclaimedScratch(on).catch(() => [])) ctx.log.info(`dropped ${left.name}, a scratch database a killed run left`);
    await dropScratch(on, scratch);
    await createScratch(on, scratch);
    await restoreFileInto(on, scratch, { filename: pick.filename, file, format: manifest.format, sha256: manifest.sha256 }, SCRATCH_RESTORE);
    const recorded = manifest.verification?.sample_hashes ?? {};
    const { counts, samples } = await withClient(on.database, async (c) => ({ counts: await countRows(c), samples: await sampleHashes(c, { legacy: legacySamples(recorded) }) }), scratch);
    judge(manifest, counts, samples.hashes, store.where(pick.filename));
    const countOnly = countOnlyTables(manifest, samples.failures);
    return {
      filename: pick.filename,
      source: pick.source,
      location: store.where(pick.filename),
      backup_created_at: manifest.created_at,
      size_bytes: manifest.size_bytes,
      tables_checked: Object.keys(manifest.table_details).length,
      rows_checked: Object.values(counts).reduce((a, b) => a + b, 0),
      samples_checked: Object.keys(manifest.table_details).length - Object.keys(countOnly).length,
      samples_missing: Object.keys(countOnly),
      count_only: countOnly,
      column_order_changed: (manifest.column_order ?? []).map((c) => c.table),
      scratch_database: scratch,
      duration_ms: Date.now() - started,
    };
  } finally {
    stores.close();
    if (server !== undefined && claim !== undefined) await dropScratch(server.config, scratch);
    await claim?.release();
    server?.release();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

/** Throws DrillFailed naming every table whose count or sample differs from the manifest. */
function judge(manifest: BackupManifest, counts: Record<string, number>, samples: Record<string, RowSampleHash>, where: string): void {
  if (Object.keys(manifest.table_details).length === 0) {
    throw permanent(ErrorType.DrillFailed, `restore drill of ${where}: the backup holds no tables, so restoring it proves nothing; check that the database it was made of (${manifest.database}) is the one to back up, then make a new backup and drill it`);
  }
  const problems: string[] = [];
  for (const [table, expected] of Object.entries(manifest.table_details)) {
    const actual = counts[table];
    if (actual !== expected) problems.push(`${table}: ${expected} rows expected, ${actual ?? 'no table'} restored`);
  }
  for (const [table, diff] of Object.entries(compareSamples(manifest.verification?.sample_hashes ?? {}, samples))) {
    if (problems.some((p) => p.startsWith(`${table}:`))) continue;
    problems.push(`${table}: the first ${diff.expected.rows} rows differ from the ones verified (sample hash ${diff.expected.md5.slice(0, 8)}… recorded, ${diff.actual.md5.slice(0, 8)}… restored)`);
  }
  if (problems.length > 0) {
    throw permanent(
      ErrorType.DrillFailed,
      `restore drill of ${where}: the restored copy is not what was verified: ${problems.join('; ')}; do not rely on this backup: make a new one ("fbb backup --upload-to-s3") and drill it`,
      undefined,
      { problems },
    );
  }
}

/** Tables the drill checked by count only, and why: no sample recorded at verification, or none computable now. */
function countOnlyTables(manifest: BackupManifest, failedNow: Record<string, string>): Record<string, string> {
  const recorded = manifest.verification?.sample_hashes ?? {};
  const failedThen = manifest.verification?.sample_failures ?? {};
  const out: Record<string, string> = {};
  for (const table of Object.keys(manifest.table_details)) {
    if (failedThen[table] !== undefined) out[table] = `no sample was recorded at verification: ${failedThen[table]}`;
    else if (recorded[table] === undefined) out[table] = 'no sample was recorded at verification (a backup verified before samples were)';
    else if (failedNow[table] !== undefined) out[table] = `the sample could not be computed in the drill: ${failedNow[table]}`;
  }
  return out;
}

/** The file in a drill's directory naming the process that fetched into it. */
const DRILL_OWNER = 'fbb-owner.json';
/** A drill directory without an owner file this old was left by a process killed as it made it. */
const ORPHAN_MS = 10 * 60_000;

/**
 * The directories (BACKUP_DIR/.fbb_drill_*) drills fetched an S3 copy into and were killed before
 * they removed: those whose owner ran on this host and is gone. A drill retried on the same host
 * and directory removes its own; with a BACKUP_DIR per host it may move to another host, and then
 * only a run on this host can. Another host's are left (its processes cannot be seen from here).
 * Unless `dryRun`, removes them.
 */
export async function sweepDrillDirectories(dir: string, options: { dryRun: boolean }): Promise<{ kind: 'drill_directory'; name: string; removed: boolean }[]> {
  const found: { kind: 'drill_directory'; name: string; removed: boolean }[] = [];
  for (const entry of await fs.readdir(dir).catch(() => [] as string[])) {
    if (!/^\.fbb_drill_[0-9a-f]{20}$/.test(entry)) continue;
    const at = path.join(dir, entry);
    const owner = await fs.readFile(path.join(at, DRILL_OWNER), 'utf8').then((t) => JSON.parse(t) as { host: string; pid: number }, () => undefined);
    const gone = owner === undefined ? await fs.stat(at).then((st) => Date.now() - st.mtimeMs > ORPHAN_MS, () => false) : owner.host === os.hostname() && !processAlive(owner.pid);
    if (!gone) continue;
    if (!options.dryRun) await fs.rm(at, { recursive: true, force: true });
    found.push({ kind: 'drill_directory', name: entry, removed: !options.dryRun });
  }
  return found;
}

/** One scratch database name per deployment and backup, so a retry removes what a killed attempt left. */
export function drillScratchName(config: Config, filename: string): string {
  const key = `${config.backup.dir}\0${config.database.database}\0${filename}`;
  return `fbb_drill_${createHash('sha256').update(key).digest('hex').slice(0, 20)}`;
}

function storeFor(config: Config, stores: ReturnType<typeof openStores>, source: DrillSource): BackupStore {
  if (source === 'local') return stores.local;
  if (stores.s3 === undefined) throw permanent(ErrorType.S3NotConfigured, 'a drill of the S3 copy was asked for, but S3_BUCKET is not set on the worker; set it, or drill the local copy with --source local');
  return stores.s3;
}

/** The drill's activities; with `workerQueue` (this worker's own queue) a local pick names it, so that the drill runs where the file is. */
export function createDrillActivities(config: Config, workerQueue?: string) {
  return {
    async pickDrillBackup(source: DrillSource): Promise<DrillPick & { worker_queue?: string }> {
      // Heartbeats (the catalog proxy's timeout): a worker killed while it lists is noticed in seconds, not after the 5 minutes the call may take.
      const pick = await beatingWhile(5_000, () => Context.current().heartbeat(), () => pickDrillBackup(config, source));
      return source === 'local' && workerQueue !== undefined ? { ...pick, worker_queue: workerQueue } : pick;
    },
    async drillBackup(pick: Pick<DrillPick, 'filename' | 'source'>): Promise<DrillReport> {
      return drillBackup(config, pick);
    },
  };
}
