// The built programs run as users run them (node dist/..., bin/fbb.js), in child processes whose
// output the test reads while they run; and checks that what they started is gone afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll } from 'vitest';
import { ensureBuilt } from './faults';
import { temporalInfo } from './temporal';

/**
 * A built file (dist/..., bin/fbb.js), after building dist/ when it is older than src/ (test/faults.ts);
 * a file under dist/scripts/ older than its source fails, naming the build command.
 */
export async function built(file: string): Promise<string> {
  await ensureBuilt();
  const full = path.resolve(file);
  if (!fs.existsSync(full)) throw new Error(`${file} is missing: run "npm run build"`);
  const source = /^dist\/(scripts\/.*)\.js$/.exec(file)?.[1];
  if (source !== undefined && fs.statSync(full).mtimeMs < fs.statSync(`${source}.ts`).mtimeMs) throw new Error(`${file} is older than ${source}.ts: run "npm run build"`);
  return full;
}

let verifyServerDir: string | undefined;

// The programs stop the servers they started; a directory whose server still runs (a program killed) is left for a look.
afterAll(() => {
  if (verifyServerDir === undefined) return;
  const running = fs.readdirSync(verifyServerDir).some((name) => fs.existsSync(path.join(verifyServerDir!, name, 'data', 'postmaster.pid')));
  if (!running) fs.rmSync(verifyServerDir, { recursive: true, force: true });
});

/** One VERIFY_SERVER_DIR per test file, reachable by the postgres user: the programs verify on the worker's own server (the default), not in /var/lib. */
function testVerifyServerDir(): string {
  if (verifyServerDir === undefined) {
    verifyServerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-verify-server-'));
    fs.chmodSync(verifyServerDir, 0o755);
  }
  return verifyServerDir;
}

/** The environment of a user's shell with nothing of the test's: PATH, HOME, the pinned Temporal CLI, a VERIFY_SERVER_DIR of the test's, and `extra`. */
export function userEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8', TEMPORAL_CLI: temporalInfo.cli, VERIFY_SERVER_DIR: testVerifyServerDir(), ...extra };
}

/** A running child with its output so far. */
export interface Spawned {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in the stream, or rejects (with all output) when the child exits or `timeoutMs` passes first. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The exit code (or 128 + signal number when killed by a signal) and the whole output. */
  exited: Promise<{ code: number; stdout: string; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

/** Runs `node <args>` with exactly `env`. */
export function spawnNode(args: string[], env: Record<string, string>, cwd?: string): Spawned {
  const child: ResultPromise = execa(process.execPath, args, { env, extendEnv: false, cwd, reject: false, buffer: false, stdin: 'ignore', forceKillAfterDelay: false });
  const text = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  for (const name of ['stdout', 'stderr'] as const) {
    child[name]!.on('data', (d: Buffer) => {
      text[name] += d.toString();
      for (const l of listeners) l();
    });
  }
  const exited = child.then((r) => ({ code: r.exitCode ?? 128 + signalNumber(r.signal), ...text }));
  const everything = () => `--- stdout:\n${text.stdout}\n--- stderr:\n${text.stderr}`;
  return {
    pid: child.pid!,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    kill: (signal) => void child.kill(signal),
    exited,
    waitFor(pattern, stream = 'stdout', timeoutMs = 180_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = text[stream].match(pattern);
          if (m) done(() => resolve(m));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} on ${stream} within ${timeoutMs} ms\n${everything()}`))), timeoutMs);
        const done = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        listeners.add(check);
        void exited.then((r) => done(() => reject(new Error(`exited with ${r.code} before ${pattern} appeared on ${stream}\n${everything()}`))));
        check();
      });
    },
  };
}

function signalNumber(signal: string | undefined): number {
  return signal === undefined ? 0 : (({ SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }) as Record<string, number>)[signal] ?? 0;
}

/** Whether a process with this pid exists (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** The command lines of every process that mentions `text` (a temporary directory, say). */
export function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (cmdline.includes(text)) found.push(`${entry}: ${cmdline}`);
    } catch {
      // It ended while we looked.
    }
  }
  return found;
}
