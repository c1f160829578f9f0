// A moment of the WAL archive made into a backup file, for a restore to that moment into the live
// database: base backup + WAL recovered to it in a scratch cluster on the worker (recover.ts), the
// cluster started on a private socket, the database dumped out of it like any backup (dump.ts: its
// manifest, checksum, verification, atomic name), then the cluster stopped and removed.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { manifestName, parseManifest, type BackupManifest, type PointInTime } from '../../backup/manifest';
import { defaultVerifyServerDir, type Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { withClient } from '../db';
import { dumpDatabase } from '../backup/dump';
import { every, writeFileAtomic } from '../stream';
import { clusterPaths, ownDir, SOCKET_PORT, startCluster, stopCluster, type ClusterPaths } from '../verifyServer/cluster';
import { installCommand } from '../pgToolChoice';
import { planPointInTime, type RecoveryPlan } from './plan';
import { recoverToDirectory } from './recover';
import { handToServerUser, serverBinDir } from './serverUser';

/** The backup file a moment was made into: its manifest (with `point_in_time`) and the worker holding it. */
export type MomentFile = BackupManifest & { point_in_time: PointInTime; worker_queue?: string };

/** The scratch cluster's directory of a run: beside the worker's verification servers, which the postgres user can reach. */
export function momentRoot(config: Config, workflowId: string): string {
  const base = config.verify?.serverDir ?? defaultVerifyServerDir();
  return path.join(base, 'pitr', createHash('sha256').update(workflowId).digest('hex').slice(0, 16));
}

/** The checks that change nothing (moment, window, age key, server programs), for the run's scratch directory. */
export async function planMoment(config: Config, req: { to_time: string; workflowId: string }): Promise<RecoveryPlan> {
  return planPointInTime(config, { to_time: req.to_time, target_dir: clusterPaths(momentRoot(config, req.workflowId)).dataDir });
}

/**
 * Recovers `plan` into its scratch cluster, starts it, dumps the live database's name out of it into
 * BACKUP_DIR as `filename` (type pitr), and removes the cluster. A retry after the file was made
 * returns it; otherwise it starts over (a cluster an earlier attempt left is stopped and removed first).
 */
export async function materializeMoment(config: Config, req: { plan: RecoveryPlan; filename: string; workflowId: string }): Promise<Omit<MomentFile, 'worker_queue'>> {
  const paths = clusterPaths(path.dirname(req.plan.target_dir));
  const binDir = await serverBinDir(config, req.plan.pg_major);
  const dumpRequest = { filename: req.filename, type: 'pitr' as const, format: 'plain_gzip' as const, workflowId: req.workflowId };
  const source = connectionTo(config, paths);
  const earlier = await madeEarlier(config, dumpRequest);
  await removeCluster(binDir, paths);
  if (earlier !== undefined) return earlier;
  await fs.mkdir(path.dirname(paths.root), { recursive: true, mode: 0o755 });
  await ownDir(paths.root, 0o700);
  // Heartbeats between the steps too (a cancellation arrives with one), and each step begins only if not cancelled.
  const ctx = Context.current();
  const stopBeats = every(5_000, () => ctx.heartbeat({ step: 'materializing', filename: req.filename }));
  const goOn = () => {
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
  };
  try {
    // Whose cluster this is: the next run of this database removes it if this run dies (sweepMomentClusters).
    await fs.writeFile(path.join(paths.root, OWNER), `${JSON.stringify(ownerOf(config, req.workflowId))}\n`);
    // Our own client authentication: trust on a socket in a directory only the server user (and root) can enter.
    const hba = path.join(paths.root, 'fbb_hba.conf');
    await fs.writeFile(hba, 'local all all trust\n', { mode: 0o600 });
    await handToServerUser(hba);
    const recovered = await recoverToDirectory(config, req.plan, req.workflowId);
    const pointInTime: PointInTime = { to_time: recovered.to_time, recovered_to: recovered.recovered_to, base_backup: recovered.base_backup };
    goOn();
    await startCluster(binDir, paths, { settings: scratchSettings(paths, hba) });
    goOn();
    await requireExtensions(config, source, req.plan, pointInTime);
    const manifest = await dumpDatabase(source, dumpRequest);
    const made = { ...manifest, point_in_time: pointInTime };
    await writeFileAtomic(path.join(config.backup.dir, manifestName(req.filename)), `${JSON.stringify(made, null, 2)}\n`);
    return made;
  } catch (err) {
    // A cancel stops the recovery's programs (the server, its restore_command), which then fail: what ended the step is the cancel.
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? err;
    throw err;
  } finally {
    stopBeats();
    await removeCluster(binDir, paths);
  }
}

/** `config` with its database the recovered copy of the live one, reached on the scratch socket as the same role. */
function connectionTo(config: Config, paths: ClusterPaths): Config {
  return { ...config, database: { ...config.database, host: paths.socketDir, port: SOCKET_PORT, password: undefined, sslmode: undefined } };
}

/** The source server's settings that must not follow it onto the worker: no TCP, no archiving, no SSL files, no preloaded libraries. */
function scratchSettings(paths: ClusterPaths, hba: string): string[] {
  return [
    'listen_addresses=',
    `port=${SOCKET_PORT}`,
    `unix_socket_directories=${paths.socketDir}`,
    'unix_socket_permissions=0700',
    `hba_file=${hba}`,
    'archive_mode=off',
    'ssl=off',
    'shared_preload_libraries=',
    'logging_collector=off',
    'fsync=off',
  ];
}

/** The file an earlier attempt of this run finished (its manifest names the run and its size matches), if any. */
async function madeEarlier(config: Config, req: { filename: string; workflowId: string }): Promise<Omit<MomentFile, 'worker_queue'> | undefined> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(path.join(config.backup.dir, manifestName(req.filename)), 'utf8'), fs.stat(path.join(config.backup.dir, req.filename))]);
    const manifest = parseManifest(text, manifestName(req.filename));
    return manifest.workflow_id === req.workflowId && manifest.size_bytes === stat.size && manifest.point_in_time !== undefined ? (manifest as Omit<MomentFile, 'worker_queue'>) : undefined;
  } catch {
    return undefined;
  }
}

/** The worker's PostgreSQL must offer every extension the database uses, or its columns cannot be read out (vector's type lives in vector.so). */
async function requireExtensions(config: Config, source: Config, plan: RecoveryPlan, at: PointInTime): Promise<void> {
  const missing = await withClient(source.database, async (c) => {
    const { rows } = await c.query<{ name: string }>('SELECT extname AS name FROM pg_extension e WHERE NOT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = e.extname) ORDER BY 1');
    return rows.map((r) => r.name);
  });
  if (missing.length === 0) return;
  throw permanent(
    ErrorType.ExtensionUnavailable,
    `database "${config.database.database}" at ${at.to_time} uses the extension(s) ${missing.join(', ')}, which this worker's PostgreSQL ${plan.pg_major} does not offer, so it cannot be read out of the recovered cluster; run "${installCommand(plan.pg_major)}" on the worker; nothing was changed`,
  );
}

/** Stops the scratch cluster if it runs and removes its directory (and a socket directory of its own under /tmp). */
async function removeCluster(binDir: string, paths: ClusterPaths): Promise<void> {
  if (await fs.stat(path.join(paths.dataDir, 'PG_VERSION')).then(() => true, () => false)) await stopCluster(binDir, paths);
  await fs.rm(paths.root, { recursive: true, force: true });
  if (!paths.socketDir.startsWith(paths.root)) await fs.rm(paths.socketDir, { recursive: true, force: true });
}

/** The file in a scratch cluster's directory naming the run and the database it belongs to. */
export const OWNER = 'fbb-owner.json';

interface Owner {
  workflow_id: string;
  database: string;
  server: string;
}

function ownerOf(config: Config, workflowId: string): Owner {
  return { workflow_id: workflowId, database: config.database.database, server: `${config.database.host}:${config.database.port}` };
}

/**
 * Scratch clusters of this database's restores to a moment made before `before` (so by runs that no
 * longer run: the caller holds the database's lock, which a restore keeps while its cluster exists):
 * stopped and removed unless `dryRun`. Clusters of other databases are left to their own runs.
 */
export async function sweepMomentClusters(config: Config, options: { dryRun: boolean; before: Date }): Promise<{ kind: 'scratch_cluster'; name: string; removed: boolean }[]> {
  const parent = path.dirname(momentRoot(config, '-'));
  const mine = ownerOf(config, '');
  const found: { kind: 'scratch_cluster'; name: string; removed: boolean }[] = [];
  for (const entry of await fs.readdir(parent).catch(() => [] as string[])) {
    const paths = clusterPaths(path.join(parent, entry));
    const file = path.join(paths.root, OWNER);
    const [text, stat] = await Promise.all([fs.readFile(file, 'utf8').catch(() => ''), fs.stat(file).catch(() => undefined)]);
    const owner = (() => {
      try {
        return JSON.parse(text) as Owner;
      } catch {
        return undefined;
      }
    })();
    if (owner?.database !== mine.database || owner.server !== mine.server || stat === undefined || stat.mtime >= options.before) continue;
    if (!options.dryRun) {
      const major = Number((await fs.readFile(path.join(paths.dataDir, 'PG_VERSION'), 'utf8').catch(() => '')).trim());
      await removeCluster(major > 0 ? await serverBinDir(config, major) : '', paths);
    }
    found.push({ kind: 'scratch_cluster', name: `${paths.root} (workflow ${owner.workflow_id})`, removed: !options.dryRun });
  }
  return found;
}
