// Helpers for the fault tests: the real CLI in a child process (so a crash or a SIGKILL hits it,
// not vitest), throwaway clusters that can be stopped, and polling for "the moment in question".
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { loadSampleDatabase } from '../src/sample/fixture';
import { captured, tempDir, withServer } from './helpers';
import { temporalInfo } from './temporal';

const ROOT = path.resolve(__dirname, '..');

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

let built: string | undefined;

/**
 * Builds the CLI from the current sources into a private directory (keyed by their hash) and returns
 * its entry point. Not the shared dist/: other builds may overwrite that at any moment.
 */
export async function ensureBuilt(): Promise<string> {
  if (built) return built;
  const hash = createHash('sha256');
  for (const file of [...sourceFiles(path.join(ROOT, 'src')), ...sourceFiles(path.join(ROOT, 'scripts')), path.join(ROOT, 'tsconfig.json')].sort()) {
    hash.update(file).update(fs.readFileSync(file));
  }
  const out = path.join(os.tmpdir(), `fbb-faults-build-${hash.digest('hex').slice(0, 16)}`);
  const entry = path.join(out, 'fbb.js');
  await buildOnce(out, entry, async () => {
    const work = `${out}.tmp-${process.pid}`;
    fs.rmSync(work, { recursive: true, force: true });
    // tsc emits even when another file in progress has type errors; only the emitted code matters here.
    await execa('npx', ['tsc', '-p', 'tsconfig.build.json', '--outDir', work, '--sourceMap', 'false'], { cwd: ROOT, reject: false });
    if (!fs.existsSync(path.join(work, 'src/client/cli.js'))) throw new Error(`tsc did not build the CLI into ${work}`);
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(work, 'node_modules'));
    await execa('node', [path.join(work, 'scripts/bundle-workflows.js')], { cwd: ROOT });
    fs.writeFileSync(path.join(work, 'fbb.js'), "require('./src/client/cli.js').main();\n");
    try {
      fs.renameSync(work, out);
    } catch {
      fs.rmSync(work, { recursive: true, force: true }); // another test file built the same sources first
    }
  });
  built = entry;
  return entry;
}

/**
 * Runs `build` (which makes `entry`) unless it is there, one test file at a time: the slowest files
 * start together and most of them need the build, and two tsc runs at once only slow both down. A
 * file that finds another building waits for it; a lock whose builder died is taken over.
 */
async function buildOnce(out: string, entry: string, build: () => Promise<void>): Promise<void> {
  const lock = `${out}.lock`;
  while (!fs.existsSync(entry)) {
    try {
      fs.mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = lockHolder(lock);
      // A builder that died, or one that never got to write its pid (10 s is ample for that).
      if (holder === undefined ? lockAgeMs(lock) > 10_000 : !alive(holder)) fs.rmSync(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      if (!fs.existsSync(entry)) await build();
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** How long ago a build lock was made (0 when it is gone). */
function lockAgeMs(lock: string): number {
  try {
    return Date.now() - fs.statSync(lock).mtimeMs;
  } catch {
    return 0;
  }
}

/** The pid written in a build lock; undefined while its builder has not written it yet (or the lock is gone). */
function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
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
    BACKUP_VERIFY: config.backup.verify,
    PG_BIN_DIR: config.pgBinDir ?? '',
    LOG_LEVEL: 'info',
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    // --local starts a throwaway server from this CLI; a build outside the checkout finds no .tools/.
    TEMPORAL_CLI: temporalInfo.cli,
    // These tests check scratch databases on the source; test/verify-server*.test.ts run the worker's own server.
    VERIFY_TARGET: 'source',
    ...extra,
  };
}

/** Starts `fbb <args>` (the CLI ensureBuilt built) in a child process; it is never rejected, read its exit. */
export function startFbb(args: string[], env: Record<string, string>): ResultPromise<{ reject: false; all: true; extendEnv: false; env: Record<string, string> }> {
  if (built === undefined) throw new Error('call ensureBuilt() in beforeAll first');
  return execa('node', [built, ...args], { env, extendEnv: false, reject: false, all: true, cwd: ROOT });
}

/**
 * Runs `fbb <args>` in this process (runCli, with `env` as its whole environment) and returns what
 * startFbb's run returns, for a run that needs no process of its own (nothing kills it, it cannot crash vitest).
 */
export async function runFbb(args: string[], env: Record<string, string>): Promise<{ exitCode: number; stdout: string; stderr: string; all: string }> {
  const out = captured();
  const exitCode = await runCli(args, { env, stdout: out.stdout, stderr: out.stderr });
  const { stdout, stderr } = out.text();
  return { exitCode, stdout, stderr, all: `${stdout}${stderr}` };
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
