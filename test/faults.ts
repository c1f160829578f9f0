// Helpers for the fault tests: the real CLI in a child process (so a crash or a SIGKILL hits it,
// not vitest), throwaway clusters that can be stopped, and polling for "the moment in question".
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/testing/pgCluster';
import { loadSampleDatabase } from '../src/testing/fixture';
import { tempDir, withServer } from './helpers';

const ROOT = path.resolve(__dirname, '..');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(file) : fs.statSync(file).mtimeMs);
  }
  return newest;
}

/** Builds dist/ (what bin/fbb.js runs) when it is missing or older than src/; one build at a time. */
export async function ensureBuilt(): Promise<void> {
  const cli = path.join(ROOT, 'dist/src/client/cli.js');
  const bundle = path.join(ROOT, 'dist/workflow-bundle.js');
  const fresh = () => fs.existsSync(cli) && fs.existsSync(bundle) && Math.min(fs.statSync(cli).mtimeMs, fs.statSync(bundle).mtimeMs) >= newestMtime(path.join(ROOT, 'src'));
  if (fresh()) return;
  const guard = path.join(ROOT, 'dist.building');
  for (;;) {
    try {
      fs.mkdirSync(guard);
      break;
    } catch {
      // Another test file is building; a guard older than 10 minutes was left by a killed build.
      if (Date.now() - fs.statSync(guard, { throwIfNoEntry: false })!.mtimeMs > 600_000) fs.rmSync(guard, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 1_000));
      if (fresh()) return;
    }
  }
  try {
    // As "npm run build" does, but the bundle is made even when tsc reports type errors elsewhere (it still emits).
    if (!fresh()) {
      await execa('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, reject: false });
      await execa('node', ['dist/scripts/bundle-workflows.js'], { cwd: ROOT });
    }
    if (!fs.existsSync(cli)) throw new Error('npm run build did not produce dist/src/client/cli.js');
  } finally {
    fs.rmSync(guard, { recursive: true, force: true });
  }
}

/** The environment the CLI reads, for `config` (the password in PGPASSWORD, never on a command line). */
export function fbbEnv(config: Config, extra: Record<string, string> = {}): Record<string, string> {
  const db = config.database;
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    DATABASE_URL: `postgresql://${db.user}@${db.host}:${db.port}/${db.database}`,
    PGPASSWORD: db.password ?? '',
    PG_MAINTENANCE_DB: db.maintenanceDatabase,
    BACKUP_DIR: config.backup.dir,
    BACKUP_TIMEZONE: config.backup.timezone,
    PG_BIN_DIR: config.pgBinDir ?? '',
    LOG_LEVEL: 'info',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    ...extra,
  };
}

/** Starts `fbb <args>` (the built CLI) in a child process; it is never rejected, read its exit. */
export function startFbb(args: string[], env: Record<string, string>): ResultPromise<{ reject: false; all: true; extendEnv: false; env: Record<string, string> }> {
  return execa('node', [path.join(ROOT, 'bin/fbb.js'), ...args], { env, extendEnv: false, reject: false, all: true, cwd: ROOT });
}

/** Polls `probe` every 50 ms until it returns a value; fails naming `what` after `timeoutMs`, or at once (with its output) if `child` ended. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, child?: ResultPromise, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let ended = false;
  void child?.then(() => (ended = true), () => (ended = true));
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (ended) {
      const result = await child!;
      throw new Error(`the child process ended (exit ${String(result.exitCode)}) before ${what}:\n${String(result.all ?? result.stderr)}`);
    }
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** What a finished CLI run printed, with its exit code, for assertions that show the output when they fail. */
export function outcome(result: { exitCode?: number; all?: unknown }): { exit: number | undefined; output: string } {
  return { exit: result.exitCode, output: String(result.all ?? '') };
}

/** A throwaway cluster with the sample database "family_brain", which tests may stop and restart. */
export async function sampleCluster(): Promise<PgCluster & { config: (base: Config) => Config }> {
  const cluster = await startPgCluster();
  await withServer(cluster, 'postgres', (c) => c.query('CREATE DATABASE family_brain'));
  await withServer(cluster, 'family_brain', (c) => loadSampleDatabase(c));
  return {
    ...cluster,
    config: (base) => ({
      ...base,
      database: { ...base.database, host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' },
      pgBinDir: cluster.binDir,
      backup: { ...base.backup, dir: tempDir() },
    }),
  };
}

/** Runs pg_ctl on a throwaway cluster as the server's user (e.g. ['-m', 'immediate', 'stop']). */
export async function pgCtl(cluster: PgCluster, args: string[]): Promise<void> {
  const pgctl = path.join(cluster.binDir, 'pg_ctl');
  const full = ['-D', cluster.dataDir, '-w', ...args];
  if (process.getuid?.() === 0) await execa('runuser', ['-u', 'postgres', '--', pgctl, ...full]);
  else await execa(pgctl, full);
}

/** A PG_BIN_DIR whose pg_dump first sleeps `seconds` (a stand-in for a large database: pg_dump running long). */
export function slowPgDumpBinDir(realBinDir: string, seconds: number): string {
  const dir = tempDir('slowbin');
  for (const tool of fs.readdirSync(realBinDir)) {
    if (tool !== 'pg_dump') fs.symlinkSync(path.join(realBinDir, tool), path.join(dir, tool));
  }
  fs.writeFileSync(
    path.join(dir, 'pg_dump'),
    `#!/bin/sh\n[ "$1" = "--version" ] || sleep ${seconds}\nexec ${JSON.stringify(path.join(realBinDir, 'pg_dump'))} "$@"\n`,
    { mode: 0o755 },
  );
  return dir;
}

/** Is `pid` still running? */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
