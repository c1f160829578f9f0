// The worker's own PostgreSQL servers (one per major, in VERIFY_SERVER_DIR/pg<major>): started on
// demand, shared by every activity of the process and by other processes using the same directory,
// stopped once no process has used it for the idle time. The API the PITR scratch clusters reuse.
import fs from 'node:fs';
import path from 'node:path';
import type { DatabaseConfig } from '../../config';
import { clusterAnswers, clusterPaths, initCluster, SOCKET_PORT, startCluster, stopCluster, type ClusterPaths } from './cluster';
import { pgBinDirForMajor } from './install';
import { dropLease, otherLeaseHolders, takeLease, withLockFile } from './lock';

/** Which server: its directory (VERIFY_SERVER_DIR), its major, and how long it may sit unused. */
export interface LocalServerOptions {
  dir: string;
  major: number;
  idleMs: number;
}

/** A use of a running server: how to connect (its superuser, over the socket), its binaries; release() when done. */
export interface LocalServerLease {
  database: DatabaseConfig;
  binDir: string;
  paths: ClusterPaths;
  release(): void;
}

interface State {
  leases: number;
  timer?: NodeJS.Timeout;
  options: LocalServerOptions;
}

const states = new Map<string, State>();

const rootOf = (o: Pick<LocalServerOptions, 'dir' | 'major'>) => path.join(o.dir, `pg${o.major}`);
const lockOf = (o: Pick<LocalServerOptions, 'dir' | 'major'>) => `${rootOf(o)}.lock`;
const leasesOf = (o: Pick<LocalServerOptions, 'dir' | 'major'>) => `${rootOf(o)}.leases`;

/** How to connect to the server in `paths` as its superuser. */
export function connectionOf(paths: ClusterPaths, database = 'postgres'): DatabaseConfig {
  return { host: paths.socketDir, port: SOCKET_PORT, user: 'postgres', password: undefined, database, sslmode: undefined, maintenanceDatabase: 'postgres' };
}

/**
 * Ensures the server of `options.major` runs (initialised on first use; a running one, even one a
 * killed worker left, is reused) and leases it until release(). Throws MissingPostgresError when that
 * major is not installed, an Error saying why when it cannot start.
 */
export async function ensureLocalServer(options: LocalServerOptions): Promise<LocalServerLease> {
  const binDir = pgBinDirForMajor(options.major);
  const key = rootOf(options);
  const state = states.get(key) ?? { leases: 0, options };
  states.set(key, state);
  state.options = options;
  state.leases++;
  clearTimeout(state.timer);
  const paths = clusterPaths(key);
  try {
    fs.mkdirSync(options.dir, { recursive: true, mode: 0o755 });
    await withLockFile(lockOf(options), async () => {
      await takeLease(leasesOf(options));
      await initCluster(binDir, paths);
      if (!(await clusterAnswers(paths))) await startCluster(binDir, paths);
    });
  } catch (err) {
    releaseOnce(key, state)();
    throw err;
  }
  return { database: connectionOf(paths), binDir, paths, release: releaseOnce(key, state) };
}

function releaseOnce(key: string, state: State): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    state.leases--;
    if (state.leases > 0) return;
    void dropLease(leasesOf(state.options));
    state.timer = setTimeout(() => void stopIfIdle(key).catch(() => undefined), state.options.idleMs);
    state.timer.unref();
  };
}

/** Stops the server of `key` when neither this process nor another live one leases it. */
async function stopIfIdle(key: string): Promise<boolean> {
  const state = states.get(key);
  if (state === undefined || state.leases > 0) return false;
  return withLockFile(lockOf(state.options), async () => {
    if (state.leases > 0 || (await otherLeaseHolders(leasesOf(state.options))).length > 0) return false;
    await stopCluster(pgBinDirForMajor(state.options.major), clusterPaths(key));
    return true;
  });
}

/** At the worker's shutdown: stops the servers this process used, unless another process still uses them. */
export async function stopLocalServers(): Promise<void> {
  for (const [key, state] of states) {
    clearTimeout(state.timer);
    state.leases = 0;
    await dropLease(leasesOf(state.options));
    await stopIfIdle(key).catch(() => undefined);
  }
  states.clear();
}
