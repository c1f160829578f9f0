// The moving parts of `npm run bench -- --pitr` (scripts/bench-pitr.ts): `fbb up` in the background (a
// Temporal dev server and a worker, which runs the WAL archive), a steady write load, the crash of the
// database server, and a restored data directory started until it accepts connections.
import fs from 'node:fs';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import pg from 'pg';
import { asServerUser } from '../src/activities/verifyServer/install';
import type { PgCluster } from '../src/sample/pgCluster';
import { fbbBin } from './benchKit';

/** Runs bin/fbb.js with `argv` in `env`; its stdout, or an error with its stderr. */
export async function fbbRun(argv: string[], env: Record<string, string>): Promise<string> {
  const run = await execa(process.execPath, [fbbBin(), ...argv], { env, extendEnv: false, reject: false });
  if (run.exitCode !== 0) throw new Error(`fbb ${argv.join(' ')} exited ${String(run.exitCode)}: ${run.stderr || run.stdout}`);
  return run.stdout;
}

/** `fbb up` in the background until stop(); ready once `fbb wal start` succeeds through it. */
export async function startFbbUp(env: Record<string, string>, uiPort: number, log: string): Promise<{ stop(): Promise<void> }> {
  const child: ResultPromise = execa(process.execPath, [fbbBin(), 'up', '--ui-port', String(uiPort)], { env, extendEnv: false, reject: false, stdout: { file: log }, stderr: { file: log } });
  const deadline = Date.now() + 180_000;
  for (;;) {
    const ok = await fbbRun(['wal', 'start', '--json'], env).then(() => true, (err: unknown) => {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`fbb up did not come up (see ${log}): ${(err as Error).message}`);
      return false;
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 2_000));
  }
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await child;
    },
  };
}

/** One session writing `rate` commits a second into bench_rpo until stopped: the last acknowledged row. */
export function startLoad(cluster: PgCluster, database: string, rate: number): { acked(): { id: number; at: string }; stop(): Promise<void> } {
  let acked = { id: 0, at: '' };
  let stopping = false;
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database });
  // The crash ends this session: its error is expected.
  client.on('error', () => undefined);
  const done = (async () => {
    await client.connect();
    const started = Date.now();
    for (let i = 1; !stopping; i++) {
      const { rows } = await client.query<{ at: Date }>('INSERT INTO bench_rpo VALUES ($1, clock_timestamp()) RETURNING at', [i]);
      acked = { id: i, at: rows[0]!.at.toISOString() };
      const wait = started + (i * 1000) / rate - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })().catch(() => undefined);
  return {
    acked: () => acked,
    stop: async () => {
      stopping = true;
      await done;
      await client.end().catch(() => undefined);
    },
  };
}

/** The disaster: every process of the server SIGKILLed (its data directory is kept: the next bench run starts it). */
export async function killServer(cluster: PgCluster): Promise<void> {
  const pid = Number(fs.readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = (await execa('ps', ['-o', 'pid=', '--ppid', String(pid)], { reject: false })).stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** The pg_ctl start of `dataDir` on `port` (with `settings`), waiting until it accepts connections, as argv for measure(). */
export function pgCtlStart(binDir: string, dataDir: string, port: number, sockets: string, settings: string[] = []): string[] {
  const options = [`-p ${port}`, `-k ${sockets}`, '-c listen_addresses=127.0.0.1', ...settings.map((s) => `-c ${s}`)].join(' ');
  const [file, args] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-o', options, '-l', path.join(sockets, 'server.log'), '-w', '-t', '7200', 'start']);
  return [file, ...args];
}

/** Stops a started restored directory (fast shutdown). */
export async function pgCtlStop(binDir: string, dataDir: string): Promise<void> {
  const [file, args] = asServerUser(path.join(binDir, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
  await execa(file, args, { reject: false });
}

/** The newest row of bench_rpo in a restored server on `port`. */
export async function newestRow(cluster: PgCluster, port: number, database: string): Promise<{ id: number; at: string | null }> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: cluster.user, password: cluster.password, database });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: number | null; at: Date | null }>('SELECT max(id) AS id, max(at) AS at FROM bench_rpo');
    return { id: rows[0]?.id ?? 0, at: rows[0]?.at?.toISOString() ?? null };
  } finally {
    await client.end();
  }
}
