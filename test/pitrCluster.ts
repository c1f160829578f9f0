// A durable throwaway server for the point-in-time tests (fsync, full-page writes and synchronous
// commit on, as in production), with the sample database, its WAL archive (the stand-in, or the real
// one a worker runs) and helpers to start a restored data directory and to crash the server.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Config } from '../src/config';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { walDir } from '../src/wal/layout';
import { freePort } from '../src/ports';
import { fingerprintDatabase, type DatabaseFingerprint } from './compare';
import { eventually } from './eventually';
import { expect } from 'vitest';
import { runCli } from '../src/client/cli';
import type { BaseBackupResult } from '../src/workflows/baseBackup';
import { captured, tempDir, testConfig, userEnvFor, withServer } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, type TestWorker } from './temporal';
import { startWalArchiveStandIn, type WalArchiveStandIn } from './walArchiveStandIn';

/** Where the setup's WAL archive stores; sweep and stop do nothing for the real archive (`fbb wal stop` ends it). */
export type PitrArchive = Pick<WalArchiveStandIn, 'systemIdentifier' | 'dir' | 'sweep' | 'stop'>;

/** A durable cluster with family_brain, its archive and a config pointing at both. */
export interface PitrSetup {
  cluster: PgCluster;
  archive: PitrArchive;
  config: Config;
  /** The fingerprint of family_brain on the live cluster. */
  fingerprintFamilyBrain(): Promise<DatabaseFingerprint>;
}

/**
 * Starts the cluster (PostgreSQL `major`, default the machine's), loads the sample database and starts
 * the stand-in archive; with `archive: 'real'` it starts none: the test runs archiveWal on a worker of
 * this config (partial segment copied every 2 s) and stops it.
 */
export async function startPitrSetup(options: { major?: number; settings?: string[]; s3?: boolean; archive?: 'stand-in' | 'real' } = {}): Promise<PitrSetup> {
  const cluster = await startPgCluster({ major: options.major, settings: ['fsync=on', 'full_page_writes=on', 'synchronous_commit=on', ...(options.settings ?? [])] });
  await withServer(cluster, 'postgres', (c) => c.query('CREATE DATABASE family_brain'));
  await withServer(cluster, 'family_brain', (c) => loadSampleDatabase(c));
  const base = testConfig({ s3: options.s3 });
  const config: Config = { ...base, database: { ...base.database, host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' }, pgBinDir: cluster.binDir };
  let archive: PitrArchive;
  if (options.archive === 'real') {
    config.wal = { slotName: undefined, partialUploadSeconds: 2, maxLagSeconds: 3600, stallSeconds: 120, spoolDir: tempDir('wal-spool') };
    const sysid = await withServer(cluster, 'postgres', async (c) => (await c.query<{ s: string }>('SELECT system_identifier::text AS s FROM pg_control_system()')).rows[0]!.s);
    archive = { systemIdentifier: sysid, dir: path.join(config.backup.dir, walDir(sysid)), sweep: () => undefined, stop: () => Promise.resolve() };
  } else {
    archive = await startWalArchiveStandIn(cluster, config.backup.dir);
  }
  const conn = { host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' };
  return { cluster, archive, config, fingerprintFamilyBrain: () => fingerprintDatabase(conn, { pgBinDir: cluster.binDir }) };
}

/** Ends the WAL segment in use and waits until the archive holds it. */
export async function switchAndArchive(setup: PitrSetup): Promise<void> {
  const seg = await withServer(setup.cluster, 'postgres', async (c) => {
    const { rows } = await c.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f');
    return rows[0]!.f;
  });
  const archived = async () => {
    setup.archive.sweep();
    return fs.existsSync(path.join(setup.archive.dir, `${seg}.gz`));
  };
  await eventually(`segment ${seg} is archived`, archived, (yes) => yes, 120_000);
}

/** A restored data directory started on its own port: fingerprint its family_brain, query it, stop it. */
export async function startRestored(binDir: string, dataDir: string, password: string): Promise<{ port: number; fingerprint(): Promise<DatabaseFingerprint>; query<T>(sql: string): Promise<T[]>; stop(): Promise<void> }> {
  const port = await freePort();
  const sockets = tempDir('restored-sock');
  const root = process.getuid?.() === 0;
  if (root) await execa('chown', ['postgres', sockets]);
  const pgctl = (args: string[]) => (root ? execa('runuser', ['-u', 'postgres', '--', path.join(binDir, 'pg_ctl'), ...args]) : execa(path.join(binDir, 'pg_ctl'), args));
  const log = path.join(sockets, 'log');
  try {
    await pgctl(['-D', dataDir, '-o', `-p ${port} -k ${sockets} -c listen_addresses=127.0.0.1`, '-l', log, '-w', '-t', '120', 'start']);
  } catch (err) {
    // Why it did not start (recovery's own messages, or the port taken) is in the server's log, not pg_ctl's output.
    const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').slice(-40).join('\n') : '(no log)';
    throw new Error(`the restored data directory ${dataDir} did not start on port ${port}: ${(err as Error).message}\nits log's end:\n${tail}`, { cause: err });
  }
  const conn = { host: '127.0.0.1', port, user: 'postgres', password };
  return {
    port,
    fingerprint: () => fingerprintDatabase({ ...conn, database: 'family_brain' }, { pgBinDir: binDir }),
    query: <T>(sql: string) => withServer(conn, 'family_brain', async (c) => (await c.query(sql)).rows as T[]),
    stop: async () => {
      await pgctl(['-D', dataDir, '-m', 'fast', '-w', 'stop']);
    },
  };
}

/** The disaster: every process of the server SIGKILLed, then its data directory deleted. */
export async function crashAndDeleteDataDir(cluster: PgCluster): Promise<void> {
  const pid = Number(fs.readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = (await execa('ps', ['-o', 'pid=', '--ppid', String(pid)], { reject: false })).stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  fs.rmSync(cluster.dataDir, { recursive: true, force: true });
}

/** What the CLI tests of point-in-time recovery start from: `fbb` in this process on setup's server, its worker, and the first base backup. */
export interface PitrCli {
  fbb(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  worker: TestWorker;
  backup: BaseBackupResult;
  /** `fbb wal stop`, then the worker stopped. */
  stop(): Promise<void>;
}

/**
 * Starts a worker for the CLI on setup's server, the real archive with `fbb wal start` (the base
 * backup's WAL reaches the archive only when its slot streams before the backup starts), waits for
 * its slot to stream, and takes a base backup with `fbb basebackup`.
 */
export async function startPitrCli(setup: PitrSetup): Promise<PitrCli> {
  const onServer = onTemporal(setup.config);
  const worker = await startTestWorker(onServer);
  const env = { ...userEnvFor(onServer), PGDATABASE: 'family_brain', TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace, TEMPORAL_TASK_QUEUE: onServer.temporal.taskQueue };
  const fbb = async (args: string[]) => {
    const io = captured();
    const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
    return { code, ...io.text() };
  };
  const archiving = await fbb(['wal', 'start', '--json']);
  expect(archiving.code, archiving.stderr).toBe(0);
  const slotActive = () => withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_family_brain'")).rows);
  await eventually('the archive streams through slot fbb_family_brain', slotActive, (rows) => rows[0]?.active === true, 60_000);
  const made = await fbb(['basebackup', '--json']);
  expect(made.code, made.stderr).toBe(0);
  return {
    fbb,
    worker,
    backup: JSON.parse(made.stdout) as BaseBackupResult,
    stop: async () => {
      await fbb(['wal', 'stop']).catch(() => undefined);
      await worker.stop();
    },
  };
}
