// Helpers for the kill-matrix tests (test/durability*.test.ts): worker PROCESSES on a Temporal dev
// server, killed at named moments, and what a test checks afterwards.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import type { WorkflowHandle } from '@temporalio/client';
import { scratchName } from '../src/activities/backup/verify';
import type { Config } from '../src/config';
import { eventually } from './eventually';
import { ensureBuilt, fbbEnv } from './faults';
import { createDatabase, fingerprint, tempDir, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, temporalInfo, testClient } from './temporal';
import { backupDatabase, restoreDatabase, statusQuery } from '../src/workflows';

const workers: ResultPromise[] = [];
let workerEntry: string | undefined;

/** Builds the worker (call in beforeAll, it can take minutes). */
export async function buildWorker(): Promise<void> {
  workerEntry ??= path.join(path.dirname(await ensureBuilt()), 'src', 'worker.js');
}

/** SIGKILLs every worker this file started (call in afterAll). */
export async function killAllWorkers(): Promise<void> {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.catch(() => undefined)));
}

/** Drops the shared cluster's databases this test file made (uniqueName puts the pid in each name), and those derived from them (call in afterAll). */
export async function dropOurDatabases(): Promise<void> {
  const { rows } = await withAdmin((c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_%' AND strpos(datname, $1) > 0", [`_${process.pid}_`]));
  await withAdmin(async (c) => {
    for (const { datname } of rows) await c.query(`DROP DATABASE "${datname}" WITH (FORCE)`);
  });
}

/** The S3 settings of `config` as a worker reads them, credentials in the AWS SDK's variables. */
export function s3Env(config: Config): Record<string, string> {
  if (config.s3 === undefined) return {};
  return {
    S3_BUCKET: config.s3.bucket,
    S3_PREFIX: config.s3.prefix,
    S3_ENDPOINT: config.s3.endpoint ?? '',
    S3_REGION: config.s3.region,
    S3_FORCE_PATH_STYLE: 'true',
    S3_PART_SIZE_MB: String(config.s3.partSizeBytes / 1024 / 1024),
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'testing',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'testing',
  };
}

/**
 * A worker process for `config` on its task queue, as `npm run worker` starts it, on the shared dev
 * server unless `extra` says otherwise. Heartbeat timeout and lost-worker bound 10 s: a dead worker is noticed in seconds.
 */
export function startWorker(config: Config, extra: Record<string, string> = {}): ResultPromise {
  if (workerEntry === undefined) throw new Error('call buildWorker() in beforeAll first');
  const env = fbbEnv(config, {
    TEMPORAL_ADDRESS: temporalInfo.address,
    TEMPORAL_NAMESPACE: temporalInfo.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    ACTIVITY_HEARTBEAT_TIMEOUT_SECONDS: '10',
    ACTIVITY_RETRY_INTERVAL_SECONDS: '1',
    // A step waiting on a dead worker's own task queue moves on after 10 s, not the production minute.
    WORKER_LOST_AFTER_SECONDS: '10',
    WORKER_SHUTDOWN_GRACE_SECONDS: '2',
    LOG_LEVEL: 'warn',
    ...s3Env(config),
    ...extra,
  });
  // No forced SIGKILL after a SIGTERM: a test that sends SIGTERM watches the worker's own shutdown.
  const worker = execa('node', [workerEntry], { env, extendEnv: false, reject: false, all: true, forceKillAfterDelay: false });
  workers.push(worker);
  return worker;
}

/** Resolves once the worker printed `text` (a pause point's line, for instance). */
export function printed(worker: ResultPromise, text: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let seen = '';
    worker.all!.on('data', (d: Buffer) => {
      seen += d.toString();
      if (seen.includes(text)) resolve();
    });
    void worker.then((r) => reject(new Error(`the worker exited (${String(r.exitCode ?? r.signal)}) before printing "${text}":\n${seen}`)));
  });
}

/** A pending activity as the server describes it. */
type Pending = NonNullable<Awaited<ReturnType<WorkflowHandle['describe']>>['raw']['pendingActivities']>[number];

/** Resolves once the run has `activityType` running (attempt `attempt` or later), as the server sees it; with `also`, once that holds too. */
export async function activityRunning(handle: WorkflowHandle, activityType: string, attempt = 1, also: (a: Pending) => boolean = () => true): Promise<Pending> {
  const pending = await eventually(
    `${activityType} running`,
    async () => (await handle.describe()).raw.pendingActivities ?? [],
    (list) => list.some((a) => a.activityType?.name === activityType && (a.attempt ?? 1) >= attempt && a.state === 2 /* STARTED */ && also(a)),
    120_000,
  );
  return pending.find((a) => a.activityType?.name === activityType)!;
}

/** A PG_BIN_DIR whose `tool` first sleeps `seconds`: a stand-in for a large database, so a step runs long enough to be killed in. */
export function slowBinDir(realBinDir: string, tool: string, seconds: number): string {
  const dir = tempDir('slowbin');
  for (const name of fs.readdirSync(realBinDir)) if (name !== tool) fs.symlinkSync(path.join(realBinDir, name), path.join(dir, name));
  fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\n[ "$1" = "--version" ] || sleep ${seconds}\nexec ${JSON.stringify(path.join(realBinDir, tool))} "$@"\n`, { mode: 0o755 });
  return dir;
}

/**
 * Like slowBinDir, but `tool` sleeps only when it works on a database whose name matches the shell
 * pattern `databases` (libpq's PGDATABASE, which our activities set): e.g. '*_restoring_*' slows a
 * restore's psql and not the pre-restore backup's verification before it.
 */
export function slowBinDirFor(realBinDir: string, tool: string, seconds: number, databases: string): string {
  const dir = tempDir('slowbin');
  for (const name of fs.readdirSync(realBinDir)) if (name !== tool) fs.symlinkSync(path.join(realBinDir, name), path.join(dir, name));
  const sleep = `case "$PGDATABASE" in ${databases}) [ "$1" = "--version" ] || sleep ${seconds};; esac`;
  fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\n${sleep}\nexec ${JSON.stringify(path.join(realBinDir, tool))} "$@"\n`, { mode: 0o755 });
  return dir;
}

/** SIGKILLs a worker and waits until it is gone. */
export async function kill(worker: ResultPromise): Promise<void> {
  worker.kill('SIGKILL');
  await worker.catch(() => undefined);
}

/** The files in a backup directory, temporary and lock files included. */
export const filesIn = (dir: string) => fs.readdirSync(dir).sort();

/** This test's leftover databases: the scratch copy verifying `filenames`, and copies restored beside `config`'s database. */
export async function leftoverDatabases(config: Config, filenames: string[]): Promise<string[]> {
  const scratch = filenames.map((f) => scratchName(config, f));
  const { rows } = await withAdmin((c) =>
    c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname = ANY($1) OR datname LIKE $2 || '\\_restoring\\_%'", [scratch, config.database.database]),
  );
  return rows.map((r) => r.datname);
}

/** Measured recovery times (kill → run complete), printed at the end of the file for the kill-matrix table. */
const recoveries: string[] = [];

/** Records how long `label` took to recover since `killedAt` (ms epoch). Measured, never asserted. */
export function recovered(label: string, killedAt: number): void {
  recoveries.push(`${label}: ${((Date.now() - killedAt) / 1000).toFixed(1)} s from the kill to the run's completion`);
}

/** Prints the recovery times (call in afterAll). */
export function printRecoveries(): void {
  for (const line of recoveries) process.stderr.write(`kill-matrix: ${line}\n`);
}

/** A TCP proxy to `target` (http://host:port) that forwards requests at about `bytesPerSecond`: a slow network to S3, so an upload runs long enough to be killed in. */
export async function slowProxy(target: string, bytesPerSecond: number): Promise<{ endpoint: string; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      client.pause();
      upstream.write(chunk);
      setTimeout(() => client.resume(), (chunk.length / bytesPerSecond) * 1000);
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as net.AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${own}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A restore of a fresh backup of a new sample database (with `input` added), waiting for confirmation with no worker running; and what the database held at the backup. */
export async function waitingRestore(label: string, input: Record<string, unknown> = {}) {
  const db = await createDatabase(label);
  const config = onTemporal(testConfig({ database: db }));
  const atBackup = await fingerprint(db);
  const client = await testClient();
  const first = startWorker(config);
  const backup = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-b'), args: [{ cleanup_old: false }] });
  await withAdmin((c) => c.query('DELETE FROM chat_messages WHERE id % 2 = 0'), db);
  const handle = await client.workflow.start(restoreDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-r'), args: [{ backup_filename: backup.filename, ...input }] });
  await eventually('the restore waits for confirmation', () => handle.query(statusQuery), (s) => s.phase === 'awaiting_confirmation', 120_000);
  await kill(first);
  return { db, config, atBackup, handle, backup };
}
