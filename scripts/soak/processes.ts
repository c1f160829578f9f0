// The soak's other processes: worker processes as `npm run worker` starts them, the fbb CLI, and a
// steady write load (psql) that starts again whenever its connection is cut.
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { projectRoot } from '../../src/projectRoot';
import { LIVE_DB, type Rig } from './rig';

/** The table the write load inserts into; the soak's content hashes leave it out. */
export const LOAD_TABLE = 'soak_load';

/** The task queue of the soak's workers. */
const TASK_QUEUE = 'soak';

/** What the CLI and the workers read: the live database, BACKUP_DIR, Temporal, S3 behind its switch (credentials in the environment). */
export function fbbEnv(rig: Rig): Record<string, string> {
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
    BACKUP_DIR: rig.backupDir,
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
    LOG_LEVEL: 'warn',
  };
}

/** A worker process and where its output goes. */
export interface WorkerProcess {
  pid: number;
  process: ResultPromise;
}

/** Two or three worker processes; a killed or stopped one is replaced by `refill`. */
export class WorkerPool {
  readonly workers: WorkerProcess[] = [];
  private started = 0;

  constructor(
    private readonly rig: Rig,
    private readonly size: number,
  ) {}

  /** Starts workers until `size` are alive. */
  refill(): void {
    for (let i = this.workers.length; i < this.size; i++) this.start();
  }

  private start(): void {
    const entry = path.join(projectRoot(), 'dist', 'src', 'worker.js');
    const log = { file: path.join(this.rig.work, `worker-${++this.started}.log`), append: true };
    const env = {
      ...fbbEnv(this.rig),
      // Seconds, not the production minutes: a dead worker is noticed, and its activity retried, quickly.
      ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '10',
      ACTIVITY_RETRY_INTERVAL_SECONDS: '1',
      WORKER_LOST_AFTER_SECONDS: '10',
      WORKER_SHUTDOWN_GRACE_SECONDS: '2',
    };
    const child = execa('node', [entry], { env, extendEnv: false, reject: false, stdin: 'ignore', stdout: log, stderr: log, forceKillAfterDelay: false, cleanup: true });
    const worker = { pid: child.pid!, process: child };
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

/** A psql that inserts a row into LOAD_TABLE every 200 ms, started again a second after its session ends. */
export class WriteLoad {
  private child: ResultPromise | undefined;
  private running = false;
  inserted = 0;

  constructor(private readonly rig: Rig) {}

  async start(): Promise<void> {
    await this.rig.sql((c) => c.query(`CREATE TABLE IF NOT EXISTS ${LOAD_TABLE} (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text NOT NULL)`));
    this.running = true;
    this.spawn();
  }

  private spawn(): void {
    if (!this.running) return;
    const script = `INSERT INTO ${LOAD_TABLE} (note) VALUES ('load') \\watch 0.2\n`;
    const env = { ...fbbEnv(this.rig), PGAPPNAME: 'soak-load' };
    this.child = execa(path.join(this.rig.pg.binDir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { env, extendEnv: false, input: script, reject: false, stdout: 'ignore', stderr: 'ignore' });
    void this.child.then(() => setTimeout(() => this.spawn(), 1000));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.child?.kill('SIGTERM');
    await this.child?.catch(() => undefined);
  }
}

/** Runs `fbb <args>` (bin/fbb.js of this checkout) to the end or `timeoutMs`; its exit code and output. */
export async function runFbb(rig: Rig, args: string[], timeoutMs: number): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const bin = path.join(projectRoot(), 'bin', 'fbb.js');
  const r = await execa('node', [bin, ...args], { env: fbbEnv(rig), extendEnv: false, reject: false, timeout: timeoutMs, stdin: 'ignore' });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}
