import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { debianPgBinDirs } from '../activities/pgTools';
import { asServerUser, isRoot, MissingPostgresError, pgBinDirForMajor } from '../activities/verifyServer/install';
import { freePort } from '../ports';

export { MissingPostgresError, pgBinDirForMajor };

/** A throwaway PostgreSQL server: its own data directory, socket directory and TCP port. */
export interface PgCluster {
  host: string;
  port: number;
  user: string;
  password: string;
  binDir: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Options for a throwaway cluster. */
export interface PgClusterOptions {
  /** Hide these extensions from the server, e.g. ['vector'] for "a server without pgvector". */
  withoutExtensions?: string[];
  password?: string;
  /**
   * Keep the cluster in this directory and reuse it on the next start (the benchmark caches its
   * sample database this way); stop() then leaves it in place. Default: a new temporary directory.
   */
  persistentDir?: string;
  /** Run this PostgreSQL major (Debian's or .tools/postgresql-N's, see pgBinDirForMajor); default: findPgBinDir(). */
  major?: number;
  /** More server settings ("fsync=on", "full_page_writes=on"), applied after the throwaway defaults (fsync, full-page writes and synchronous commit off). */
  settings?: string[];
}

const INSTALL_HINT = 'run "sudo bash scripts/install-deps.sh" (Debian/Ubuntu) to install PostgreSQL 15 and pgvector';

/** The directory with initdb, pg_ctl, postgres: PG_BIN_DIR, else the newest /usr/lib/postgresql/N/bin. */
export function findPgBinDir(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [...(env.PG_BIN_DIR ? [env.PG_BIN_DIR] : []), ...debianPgBinDirs()];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb')));
  if (found === undefined) {
    throw new MissingPostgresError(`no PostgreSQL server binaries found (looked in ${candidates.join(', ') || '/usr/lib/postgresql'}); ${INSTALL_HINT}`);
  }
  return found;
}

/** Fails fast, naming the install script, when the server or pgvector is missing. */
export async function assertPostgresInstalled(binDir: string = findPgBinDir()): Promise<void> {
  const { stdout: sharedir } = await execa(path.join(binDir, 'pg_config'), ['--sharedir']).catch(() => ({ stdout: '' }));
  if (sharedir === '') throw new MissingPostgresError(`pg_config is missing from ${binDir}; ${INSTALL_HINT}`);
  if (!fs.existsSync(path.join(sharedir, 'extension', 'vector.control'))) {
    throw new MissingPostgresError(`pgvector is not installed for the PostgreSQL in ${binDir} (no vector.control in ${sharedir}/extension); ${INSTALL_HINT}`);
  }
}

/** Starts a cluster with trust over the socket and scram passwords over TCP on 127.0.0.1. */
export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  let binDir = options.major === undefined ? findPgBinDir() : pgBinDirForMajor(options.major);
  const persistent = options.persistentDir !== undefined;
  const root = persistent ? path.resolve(options.persistentDir!) : fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-pg-'));
  fs.mkdirSync(root, { recursive: true });
  if (isRoot()) await execa('chown', ['postgres', root]);
  if (options.withoutExtensions?.length) binDir = await relocatedInstall(binDir, root, options.withoutExtensions);

  const password = options.password ?? 'fbb-test-password';
  const dataDir = path.join(root, 'data');
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    const pwfile = path.join(root, 'pwfile');
    fs.writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    if (isRoot()) await execa('chown', ['postgres', pwfile]);
    const initdb = asServerUser(path.join(binDir, 'initdb'), [
      '-D', dataDir, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
      '--no-sync', '--encoding=UTF8', '--locale=C.UTF-8',
    ]);
    await execa(initdb[0], initdb[1]);
    fs.rmSync(pwfile);
  }

  const port = await freePort();
  const serverOptions = [
    `-p ${port}`, `-k ${root}`, '-c listen_addresses=127.0.0.1', '-c fsync=off', '-c synchronous_commit=off',
    '-c full_page_writes=off', '-c max_connections=100', '-c shared_buffers=128MB',
    ...(options.settings ?? []).map((s) => `-c ${s}`),
  ].join(' ');
  const start = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-o', serverOptions, '-l', path.join(root, 'server.log'), '-w', '-t', '60', 'start']);
  await execa(start[0], start[1]);

  return {
    host: '127.0.0.1',
    port,
    user: 'postgres',
    password,
    binDir,
    dataDir,
    async stop() {
      // A kept cluster shuts down cleanly so that its next start needs no recovery.
      const stop = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', persistent ? 'fast' : 'immediate', '-w', 'stop']);
      await execa(stop[0], stop[1], { reject: false });
      if (!persistent) fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/**
 * A copy of the PostgreSQL installation that lacks some extensions. PostgreSQL finds its share
 * directory relative to the postgres binary, so copying the binaries into a mirrored tree and
 * linking everything else except the hidden extensions' files gives a server without them.
 */
async function relocatedInstall(binDir: string, root: string, hidden: string[]): Promise<string> {
  const config = path.join(binDir, 'pg_config');
  const [sharedir, pkglibdir] = await Promise.all([
    execa(config, ['--sharedir']).then((r) => r.stdout),
    execa(config, ['--pkglibdir']).then((r) => r.stdout),
  ]);
  const mirror = (p: string) => path.join(root, 'install', p);
  fs.mkdirSync(mirror(binDir), { recursive: true });
  for (const tool of ['postgres', 'initdb', 'pg_ctl']) fs.copyFileSync(path.join(binDir, tool), mirror(path.join(binDir, tool)));
  for (const tool of fs.readdirSync(binDir)) {
    if (!fs.existsSync(mirror(path.join(binDir, tool)))) fs.symlinkSync(path.join(binDir, tool), mirror(path.join(binDir, tool)));
  }
  fs.mkdirSync(path.dirname(mirror(pkglibdir)), { recursive: true });
  if (!fs.existsSync(mirror(pkglibdir))) fs.symlinkSync(pkglibdir, mirror(pkglibdir));
  fs.mkdirSync(mirror(path.join(sharedir, 'extension')), { recursive: true });
  for (const entry of fs.readdirSync(sharedir)) {
    if (entry !== 'extension') fs.symlinkSync(path.join(sharedir, entry), mirror(path.join(sharedir, entry)));
  }
  const isHidden = (file: string) => hidden.some((ext) => file === `${ext}.control` || file.startsWith(`${ext}--`));
  for (const file of fs.readdirSync(path.join(sharedir, 'extension'))) {
    if (!isHidden(file)) fs.symlinkSync(path.join(sharedir, 'extension', file), mirror(path.join(sharedir, 'extension', file)));
  }
  if (isRoot()) await execa('chown', ['-R', 'postgres', path.join(root, 'install')]);
  return mirror(binDir);
}
