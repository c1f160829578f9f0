// pg_receivewal as a child of the worker: streams the server's WAL into the spool directory through
// the archive's slot. The password reaches it through its environment, never its arguments; it
// dies with the worker (parent-death signal) so a killed worker leaves no stream holding the slot.
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { DatabaseConfig } from '../../config';
import { libpqEnv } from '../pgTools';

/** util-linux's setpriv: sets the parent-death signal, then runs the command in its place. */
const SETPRIV = '/usr/bin/setpriv';

/** A running pg_receivewal. */
export interface Receiver {
  pid: number;
  /** Resolves when it exits, with its exit code (or signal) and the last lines it printed. */
  exited: Promise<{ exitCode: number | undefined; signal: string | undefined; lastLines: string }>;
  /** Asks it to flush and stop (SIGINT), then waits; SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts pg_receivewal into `spoolDir` through `slot`, flushing each write (--synchronous) so the slot only ever confirms what is on disk. */
export function startReceiver(options: { binDir: string; db: DatabaseConfig; slot: string; spoolDir: string }): Receiver {
  const args = ['-D', options.spoolDir, '--slot', options.slot, '--synchronous', '--no-loop', '--status-interval', '1', '--verbose'];
  const program = path.join(options.binDir, 'pg_receivewal');
  const [command, ...commandArgs] = fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'SIGKILL', '--', program, ...args] : [program, ...args];
  const child: ResultPromise = execa(command!, commandArgs, {
    env: { ...libpqEnv(options.db, options.db.maintenanceDatabase), PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    stdin: 'ignore',
    stdout: 'ignore',
    buffer: false,
    reject: false,
    forceKillAfterDelay: false,
  });
  const lines: string[] = [];
  let rest = '';
  child.stderr?.on('data', (d: Buffer) => {
    const parts = (rest + d.toString()).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts.filter((l) => l.trim() !== ''));
    if (lines.length > 20) lines.splice(0, lines.length - 20);
  });
  const exited = child.then((r) => ({ exitCode: r.exitCode, signal: r.signal, lastLines: [...lines, rest].filter((l) => l.trim() !== '').slice(-5).join(' | ') }));
  return {
    pid: child.pid!,
    exited,
    async stop(graceMs = 10_000) {
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}
