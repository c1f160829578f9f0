// The soak's other processes: worker processes as `npm run worker` starts them (each on its host's
// BACKUP_DIR), the fbb CLI, and a steady write load (./load.ts) that records every acknowledged commit.
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { projectRoot } from '../../src/projectRoot';
import { LOAD_TABLE } from './loadTable';
import { LIVE_DB, type Rig } from './rig';

export { LOAD_TABLE };

/** The task queue of the soak's workers. */
const TASK_QUEUE = 'soak';

/** What the CLI and the workers read: the live database, BACKUP_DIR (of `host`, default the first), Temporal, S3 behind its switch (credentials in the environment). */
export function fbbEnv(rig: Rig, host = 0): Record<string, string> {
  const pg = rig.pg;
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: 'C.UTF-8',
    PGHOST: pg.host,
    PGPORT: String(pg.port),
    PGUSER: pg.user,
    PGPASSWORD: pg.password,
    PGDATABASE: LIVE_DB,
    PG_BIN_DIR: pg.binDir,
    BACKUP_DIR: rig.hostDirs[host % rig.hostDirs.length]!,
    // The point-in-time restores' scratch clusters: inside the soak's work directory, one per host.
    VERIFY_SERVER_DIR: path.join(rig.work, `verify-${host % rig.hostDirs.length}`),
    WAL_PARTIAL_UPLOAD_SECONDS: '2',
    // A stalled archive session is failed and retried well within the 120 s a base backup waits for its WAL.
    WAL_STALL_SECONDS: '30',
    // Scratch databases on the source: one PostgreSQL to watch for leftovers (fbb_verify_*, fbb_drill_*).
    VERIFY_TARGET: 'source',
    TEMPORAL_ADDRESS: rig.temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: TASK_QUEUE,
    TEMPORAL_CLI: rig.temporal.cli,
    S3_BUCKET: rig.s3.bucket,
    S3_PREFIX: 'soak/',
    S3_ENDPOINT: rig.s3Switch.endpoint,
    S3_REGION: rig.s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: rig.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: rig.s3.secretAccessKey,
    // The worker logs (kept with a run that found a violation) say what each activity did: 'info'.
    LOG_LEVEL: 'info',
  };
}

/** A worker process, its host (the index of its BACKUP_DIR in rig.hostDirs) and where its output goes. */
export interface WorkerProcess {
  pid: number;
  host: number;
  process: ResultPromise;
}

/** Two or three worker processes, one per host; a killed or stopped one is replaced by `refill` on the same host. */
export class WorkerPool {
  readonly workers: WorkerProcess[] = [];
  /** The host of every worker process started, killed ones included (a run's history names them by pid). */
  readonly hostOfPid = new Map<number, number>();
  private started = 0;

  constructor(
    private readonly rig: Rig,
    private readonly size: number,
  ) {}

  /** Starts workers until `size` are alive. */
  refill(): void {
    for (let host = 0; host < this.size; host++) if (!this.workers.some((w) => w.host === host)) this.start(host);
  }

  private start(host: number): void {
    const entry = path.join(projectRoot(), 'dist', 'src', 'worker.js');
    const log = { file: path.join(this.rig.work, `worker-${++this.started}.log`), append: true };
    const env = {
      ...fbbEnv(this.rig, host),
      // Seconds, not the production minutes: a dead worker is noticed, and its activity retried, quickly.
      ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '10',
      ACTIVITY_RETRY_INTERVAL_SECONDS: '1',
      WORKER_LOST_AFTER_SECONDS: '10',
      WORKER_SHUTDOWN_GRACE_SECONDS: '2',
    };
    const child = execa('node', [entry], { env, extendEnv: false, reject: false, stdin: 'ignore', stdout: log, stderr: log, forceKillAfterDelay: false, cleanup: true });
    const worker = { pid: child.pid!, host, process: child };
    this.hostOfPid.set(worker.pid, host);
    this.workers.push(worker);
    void child.finally(() => {
      const i = this.workers.indexOf(worker);
      if (i >= 0) this.workers.splice(i, 1);
    });
  }

  /** Sends `signal` to the worker with `pid` (or to the `pick`-th one) and waits until it is gone. */
  async signal(signal: 'SIGKILL' | 'SIGTERM', target: { pid?: number; pick: number }): Promise<number> {
    const worker = this.workers.find((w) => w.pid === target.pid) ?? this.workers[target.pick % this.workers.length];
    if (worker === undefined) return 0;
    worker.process.kill(signal);
    await worker.process.catch(() => undefined);
    return worker.pid;
  }

  async stop(): Promise<void> {
    const all = [...this.workers];
    for (const w of all) w.process.kill('SIGKILL');
    await Promise.all(all.map((w) => w.process.catch(() => undefined)));
  }
}

/** The write load (./load.ts) in a process of its own, started again a second after it exits; `acked` maps each acknowledged row's note to its commit time (ms, server clock; NaN when unknown). */
export class WriteLoad {
  private child: ResultPromise | undefined;
  private running = false;
  readonly acked = new Map<string, number>();

  constructor(private readonly rig: Rig) {}

  async start(): Promise<void> {
    await this.rig.sql((c) => c.query(`CREATE TABLE IF NOT EXISTS ${LOAD_TABLE} (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)`));
    this.running = true;
    this.spawn();
  }

  private spawn(): void {
    if (!this.running) return;
    const env = { ...fbbEnv(this.rig), PGAPPNAME: 'soak-load' };
    const child = execa('node', [path.join(projectRoot(), 'dist', 'scripts', 'soak', 'load.js')], { env, extendEnv: false, reject: false, stdin: 'ignore', stderr: 'ignore', buffer: false });
    let rest = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const [note, ms] = line.split('\t');
        if (note) this.acked.set(note, ms === '?' ? NaN : Number(ms));
      }
    });
    this.child = child;
    void child.then(() => setTimeout(() => this.spawn(), 1000));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.child?.kill('SIGTERM');
    await this.child?.catch(() => undefined);
  }
}

/** Runs `fbb <args>` (bin/fbb.js of this checkout) to the end or `timeoutMs`; its exit code and output. */
export async function runFbb(rig: Rig, args: string[], timeoutMs: number, host = 0): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const bin = path.join(projectRoot(), 'bin', 'fbb.js');
  const r = await execa('node', [bin, ...args], { env: fbbEnv(rig, host), extendEnv: false, reject: false, timeout: timeoutMs, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
