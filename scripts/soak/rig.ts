// The soak's servers, each one it can break and mend: PostgreSQL with the sample database, a Temporal
// dev server whose state survives a restart, s3rver behind a switch, and a backup directory that can fill up.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { Client, Connection } from '@temporalio/client';
import { asServerUser, isRoot } from '../../src/activities/verifyServer/install';
import { freePort } from '../../src/ports';
import { loadSampleDatabase } from '../../src/sample/fixture';
import { startPgCluster, type PgCluster } from '../../src/sample/pgCluster';
import { requireTemporalCli } from '../../src/temporalCli';
import { startTemporalDevServer, type TemporalDevServer } from '../../src/temporalServer';
import { startS3Server, type S3Server } from '../../test/s3server';
import type { DirMode } from './plan';
import { startSwitch, type Switch } from './switch';

/** The live database the soak backs up and restores. */
export const LIVE_DB = 'family_brain';

/**
 * A crash restart must not lose a commit the server acknowledged: the throwaway defaults (fsync,
 * synchronous_commit off) do, and a table restore that reported success was then undone (seed 5 cycle 97).
 */
const DURABLE = ['fsync=on', 'synchronous_commit=on'];

/**
 * The WAL archive streams from the live cluster (wal_level replica, full-page writes as in production),
 * and every commit's time is kept so the write load can record when each acknowledged row committed.
 */
const ARCHIVABLE = ['wal_level=replica', 'full_page_writes=on', 'track_commit_timestamp=on'];

/**
 * Size of the tmpfs per host directory: room for a few hundred small backups, the WAL archive between two
 * trims, and (per host) the base backups and WAL a restore to a moment copies down from S3 onto its
 * host; little enough to fill at once (RAM, used only as written). 256 MB for all three hosts filled up
 * within 6 cycles (seed 12); 256 MB shared within 22 cycles and 3 × 256 MB per host within 35 (seeds
 * 404, 303: about 12 and 22 MB a cycle, nothing old enough for retention in a soak's minutes), after
 * which the archive could not store WAL. 1 GB lasts about 80 cycles shared and 140 per host; a longer
 * run wants more (the disk fault fills it all, so this much RAM for a moment).
 */
export const BACKUP_FS_MB_PER_HOST = 1024;

/** Everything the soak runs against. */
export interface Rig {
  work: string;
  pg: PgCluster;
  s3: S3Server;
  /** The S3 endpoint the workers use: s3rver behind a switch that can refuse every connection. */
  s3Switch: Switch;
  temporal: { address: string; cli: string; restart(): Promise<void> };
  /** The filesystem holding every BACKUP_DIR; `tmpfs` says whether it is a size-limited tmpfs (the disk fault needs one). */
  backupDir: string;
  /** Each worker host's BACKUP_DIR: one (backupDir itself) in shared mode, one subdirectory per worker in per-host mode. */
  hostDirs: string[];
  dirMode: DirMode;
  tmpfs: boolean;
  client(): Promise<Client>;
  /** A client of the live cluster's `database` (default the live database). */
  sql<T>(fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T>;
  /** Stops every server; `keep` leaves the work directory (worker logs) for a look. */
  stop(options?: { keep?: boolean }): Promise<void>;
}

/** Starts every server, loads the sample at `scale` into LIVE_DB, and mounts the backup directory. */
export async function startRig(options: { scale: number; dirMode: DirMode; hosts: number }): Promise<Rig> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-soak-'));
  fs.chmodSync(work, 0o755);
  const cli = requireTemporalCli();
  const port = await freePort();
  const stateDir = path.join(work, 'temporal');
  const startServer = () => startTemporalDevServer({ cli, stateDir, port, headless: true, dieWithParent: true, startTimeoutMs: 120_000 });
  const [pgCluster, s3, first] = await Promise.all([startPgCluster({ settings: [...DURABLE, ...ARCHIVABLE] }), startS3Server(), startServer()]);
  let server: TemporalDevServer = first;
  const s3Switch = await startSwitch(s3.endpoint);
  const backupDir = path.join(work, 'backups');
  fs.mkdirSync(backupDir);
  const hostDirs = options.dirMode === 'shared' ? [backupDir] : Array.from({ length: options.hosts }, (_, i) => path.join(backupDir, `host-${i}`));
  const tmpfs = await mountTmpfs(backupDir, BACKUP_FS_MB_PER_HOST * hostDirs.length);
  for (const d of hostDirs) fs.mkdirSync(d, { recursive: true, mode: 0o777 });
  const sql = async <T>(fn: (c: pg.Client) => Promise<T>, database = LIVE_DB): Promise<T> => {
    const c = new pg.Client({ host: pgCluster.host, port: pgCluster.port, user: pgCluster.user, password: pgCluster.password, database });
    c.on('error', () => undefined);
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  await sql((c) => c.query(`CREATE DATABASE ${LIVE_DB}`), 'postgres');
  await sql((c) => loadSampleDatabase(c, { scale: options.scale }));
  // Incremental base backups need WAL summaries on 17 and later (a reload suffices).
  await sql(async (c) => {
    const { rows } = await c.query<{ v: string }>('SHOW server_version_num');
    if (Number(rows[0]!.v) >= 170000) await c.query('ALTER SYSTEM SET summarize_wal = on; SELECT pg_reload_conf()');
  }, 'postgres');
  let client: Promise<Client> | undefined;
  return {
    work,
    pg: pgCluster,
    s3,
    s3Switch,
    backupDir,
    hostDirs,
    dirMode: options.dirMode,
    tmpfs,
    sql,
    temporal: {
      address: first.address,
      cli,
      async restart() {
        await server.stop();
        server = await startServer();
      },
    },
    client() {
      client ??= Connection.connect({ address: first.address }).then((connection) => new Client({ connection, namespace: 'default' }));
      return client;
    },
    async stop(options = {}) {
      await s3Switch.close();
      await Promise.all([server.stop(), pgCluster.stop(), s3.stop()]);
      if (tmpfs) await execa('umount', ['-l', backupDir], { reject: false });
      if (!options.keep) fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/** A size-limited tmpfs on `dir` (needs root and CAP_SYS_ADMIN); false when it cannot be mounted here. */
async function mountTmpfs(dir: string, mb: number): Promise<boolean> {
  if (!isRoot()) return false;
  const { exitCode } = await execa('mount', ['-t', 'tmpfs', '-o', `size=${mb}m,mode=0777`, 'tmpfs', dir], { reject: false });
  return exitCode === 0;
}

/** `pg_ctl restart -m immediate` of the live cluster: a crash and recovery, with the options it was started with. */
export async function crashRestartPostgres(rig: Rig): Promise<void> {
  const [cmd, args] = asServerUser(path.join(rig.pg.binDir, 'pg_ctl'), ['-D', rig.pg.dataDir, '-m', 'immediate', '-w', '-t', '120', 'restart']);
  await execa(cmd, args, { stdio: 'ignore' });
}

/** Ends every client session on the live cluster but the caller's own: "our sessions" are all of them here. */
export async function terminateSessions(rig: Rig): Promise<number> {
  const { rows } = await rig.sql(
    (c) => c.query<{ n: string }>("SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"),
    'postgres',
  );
  return Number(rows[0]?.n ?? 0);
}

/** Fills the backup directories' filesystem (every host's, in per-host mode) to the last few KiB; returns the filler's path (remove it to mend). */
export function fillBackupDir(rig: Rig): string {
  const filler = path.join(rig.backupDir, '.soak-filler');
  const fd = fs.openSync(filler, 'w');
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    for (;;) {
      const { bavail, bsize } = fs.statfsSync(rig.backupDir);
      const free = bavail * bsize;
      if (free < 64 * 1024) break;
      fs.writeSync(fd, chunk, 0, Math.min(chunk.length, free - 16 * 1024));
    }
  } catch {
    // ENOSPC: full, as intended.
  } finally {
    fs.closeSync(fd);
  }
  return filler;
}
