// One PostgreSQL cluster in a directory of the worker's: initialised once, started and stopped with
// pg_ctl, reachable only on a unix socket (trust: the socket directory is the server user's, mode 0700).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { asServerUser, isRoot } from './install';

/** Where one cluster's files are: its data directory, socket directory and log. */
export interface ClusterPaths {
  root: string;
  dataDir: string;
  socketDir: string;
  logFile: string;
}

/** The port number in the socket's name; nothing listens on TCP. */
export const SOCKET_PORT = 5432;

/** Paths of the cluster in `root`; the socket in `root/run`, or under /tmp when that path is too long for a unix socket. */
export function clusterPaths(root: string): ClusterPaths {
  const near = path.join(root, 'run');
  const socketDir = `${near}/.s.PGSQL.${SOCKET_PORT}`.length <= 100 ? near : `/tmp/fbb-verify-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`;
  return { root, dataDir: path.join(root, 'data'), socketDir, logFile: path.join(root, 'server.log') };
}

// Scratch data only: no crash safety (a machine crash can damage it; the directory is then removed and made again),
// and wal_level minimal, so that a restore's COPY into tables its own transaction created writes no WAL.
const SETTINGS = [
  "listen_addresses = ''",
  `port = ${SOCKET_PORT}`,
  'unix_socket_permissions = 0700',
  'fsync = off',
  'synchronous_commit = off',
  'full_page_writes = off',
  'wal_level = minimal',
  'max_wal_senders = 0',
  'max_connections = 50',
  // Parallel index builds (HNSW) use dynamic shared memory: file-backed, not /dev/shm, which containers keep small (64 MB).
  'dynamic_shared_memory_type = mmap',
];

async function run(file: string, args: string[], options: { reject?: boolean } = {}) {
  const [cmd, argv] = asServerUser(file, args);
  return execa(cmd, argv, { reject: options.reject ?? true, stdin: 'ignore' });
}

/** Makes `dir` (mode `mode`) and gives it to the server user when we are root. */
export async function ownDir(dir: string, mode: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true, mode });
  fs.chmodSync(dir, mode);
  if (isRoot()) await execa('chown', ['postgres', dir]);
}

/**
 * initdb unless a cluster is in `paths.dataDir`: into a directory of its own, renamed to the data
 * directory once complete, so that a process killed part-way never leaves a half-made cluster there.
 */
export async function initCluster(binDir: string, paths: ClusterPaths): Promise<void> {
  if (fs.existsSync(path.join(paths.dataDir, 'PG_VERSION'))) return;
  await ownDir(paths.root, 0o700);
  for (const name of fs.readdirSync(paths.root)) if (name.startsWith('data.init-')) fs.rmSync(path.join(paths.root, name), { recursive: true, force: true });
  const making = `${paths.dataDir}.init-${process.pid}`;
  await run(path.join(binDir, 'initdb'), ['-D', making, '-U', 'postgres', '--auth-local=trust', '--auth-host=reject', '--no-sync', '--encoding=UTF8', '--locale=C.UTF-8']);
  fs.appendFileSync(path.join(making, 'postgresql.conf'), `\n# family-brain-backup verification server\n${[...SETTINGS, `unix_socket_directories = '${paths.socketDir}'`].join('\n')}\n`);
  fs.rmSync(paths.dataDir, { recursive: true, force: true });
  fs.renameSync(making, paths.dataDir);
}

/** True when the server in `paths` accepts a connection and a query now. */
export async function clusterAnswers(paths: ClusterPaths): Promise<boolean> {
  const client = new pg.Client({ host: paths.socketDir, port: SOCKET_PORT, user: 'postgres', database: 'postgres', connectionTimeoutMillis: 5_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts the cluster (pg_ctl start -w). A postmaster.pid whose pid now belongs to another program is
 * removed first; one of a server that is gone is left to postgres, which takes it over once no
 * process of the old server still holds its shared memory (orphaned backends of a killed
 * postmaster exit within moments: the start is tried again a few times). `settings` (name=value, no
 * spaces) override the data directory's own for this start (a recovered cluster's postgresql.conf is the source server's).
 */
export async function startCluster(binDir: string, paths: ClusterPaths, options: { settings?: string[] } = {}): Promise<void> {
  await ownDir(paths.socketDir, 0o700);
  removeForeignPid(paths.dataDir);
  const overrides = options.settings?.length ? ['-o', options.settings.map((s) => `-c ${s}`).join(' ')] : [];
  for (let attempt = 1; ; attempt++) {
    const started = await run(path.join(binDir, 'pg_ctl'), ['-D', paths.dataDir, '-l', paths.logFile, ...overrides, '-w', '-t', '120', 'start'], { reject: false });
    if (started.exitCode === 0 || (await clusterAnswers(paths))) return;
    if (attempt >= 5) {
      const log = fs.existsSync(paths.logFile) ? fs.readFileSync(paths.logFile, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
      throw new Error(`pg_ctl start of ${paths.dataDir} failed: ${`${started.stderr}`.trim() || `${started.stdout}`.trim()}${log ? `; its log says: ${log}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 1_000 * attempt));
  }
}

/** Stops the cluster (fast: sessions are ended, the next start needs no recovery); a stopped one is left so. */
export async function stopCluster(binDir: string, paths: ClusterPaths): Promise<void> {
  await run(path.join(binDir, 'pg_ctl'), ['-D', paths.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop'], { reject: false });
}

/** The postmaster's pid from postmaster.pid, when the file is there. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
  } catch {
    return undefined;
  }
}

/** Removes postmaster.pid when its pid is a live process that is not postgres (the pid was reused after the server was killed). */
function removeForeignPid(dataDir: string): void {
  const pid = postmasterPid(dataDir);
  if (pid === undefined) return;
  let comm: string;
  try {
    comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return; // no such process: postgres itself takes a stale file over
  }
  if (comm !== 'postgres') fs.rmSync(path.join(dataDir, 'postmaster.pid'), { force: true });
}
