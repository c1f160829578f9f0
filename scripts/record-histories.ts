// `npm run record-histories`: records the workflow histories test/replay.test.ts replays against the
// current workflow code, into test/fixtures/histories/<name>.json (historyToJSON, what
// `temporal workflow show --output json` prints). Run it after an intended, patched() change to the
// workflows, or to add a scenario; commit the files it writes.
//
// Everything is throwaway and its own: a PostgreSQL 15 cluster with the sample database (scale 1),
// s3rver, a Temporal dev server (headless) and a real Worker with the project's activities and the
// workflow bundle. A history that contains one of the secrets it used is not written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import pg from 'pg';
import { createActivities } from '../src/activities';
import { loadConfig, type Config } from '../src/config';
import { bundleWorkflows, findPrebuiltBundle } from '../src/workflowBundle';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster } from '../src/sample/pgCluster';
import { startS3Server } from '../test/s3server';
import { startTemporalDevServer } from '../src/temporalServer';
import { cancelRestore, confirmRestore, confirmRestoreUpdate, statusQuery } from '../src/workflows';

/** The secrets the recording runs with; test/replay.test.ts asserts that no history holds them. */
export const RECORDING_SECRETS = {
  PGPASSWORD: 'fbb-recording-Pg-Passw0rd',
  // s3rver accepts only its own fixed key pair.
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
} as const;

/**
 * A history file's text as a person would read it: the JSON, plus every base64 string in it
 * decoded (payloads, i.e. inputs, results and details, are base64 JSON in the file).
 */
export function readableHistoryText(json: string): string {
  const decoded: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') {
      if (value.length >= 4 && value.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(value)) decoded.push(Buffer.from(value, 'base64').toString('utf8'));
    } else if (Array.isArray(value)) {
      value.forEach(walk);
    } else if (value !== null && typeof value === 'object') {
      Object.values(value).forEach(walk);
    }
  };
  walk(JSON.parse(json));
  return [json, ...decoded].join('\n');
}

/** The names of the secrets (RECORDING_SECRETS) found in a history file's text. */
export function secretsIn(json: string): string[] {
  const text = readableHistoryText(json);
  return Object.entries(RECORDING_SECRETS)
    .filter(([, secret]) => text.includes(secret))
    .map(([name]) => name);
}

/** The checkout: the folder with package.json above this file (scripts/ or dist/scripts/). */
function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

/** Where the histories go. */
export function historiesDir(): string {
  return path.join(projectRoot(), 'test', 'fixtures', 'histories');
}

const TASK_QUEUE = 'record-histories';
const ROLLBACK_TASK_QUEUE = 'record-histories-rollback';

/** Waits until a restore waits for its confirmRestore signal. */
async function awaitingConfirmation(handle: WorkflowHandle): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const status = await handle.query(statusQuery);
    if (status.phase === 'awaiting_confirmation') return;
    if (status.phase === 'done' || Date.now() > deadline) throw new Error(`restore ${handle.workflowId} did not wait for confirmation (phase ${status.phase})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Runs a worker until `fn` resolves. */
async function withWorker<T>(connection: NativeConnection, config: Config, taskQueue: string, overrides: Record<string, unknown>, codePath: string, fn: () => Promise<T>): Promise<T> {
  const worker = await Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue,
    workflowBundle: { codePath },
    activities: { ...createActivities({ config }), ...overrides },
  });
  return worker.runUntil(fn);
}

async function main(): Promise<void> {
  const noop = () => undefined;
  const warn = (message: string) => process.stderr.write(`[sdk] ${message}\n`);
  Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn, error: warn } });

  process.stderr.write('record-histories: starting PostgreSQL (sample database), s3rver and a Temporal dev server...\n');
  const [cluster, s3, temporal] = await Promise.all([
    startPgCluster({ password: RECORDING_SECRETS.PGPASSWORD }),
    startS3Server(),
    startTemporalDevServer({ headless: true, startTimeoutMs: 120_000 }),
  ]);
  const backupDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-record-'));
  let bundleFile: string | undefined;
  try {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE family_brain');
    await admin.end();
    const db = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' });
    await db.connect();
    await loadSampleDatabase(db, { scale: 1 });
    await db.end();

    // The AWS SDK reads the keys from its default chain, as in production.
    process.env.AWS_ACCESS_KEY_ID = RECORDING_SECRETS.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = RECORDING_SECRETS.AWS_SECRET_ACCESS_KEY;
    const config = loadConfig({
      PGHOST: cluster.host,
      PGPORT: String(cluster.port),
      PGUSER: cluster.user,
      PGPASSWORD: RECORDING_SECRETS.PGPASSWORD,
      PGDATABASE: 'family_brain',
      PG_BIN_DIR: cluster.binDir,
      BACKUP_DIR: backupDir,
      BACKUP_TIMEZONE: 'America/Toronto',
      S3_BUCKET: s3.bucket,
      S3_ENDPOINT: s3.endpoint,
      S3_REGION: s3.region,
      S3_FORCE_PATH_STYLE: 'true',
      S3_PREFIX: 'backups/',
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      LOG_LEVEL: 'warn',
    });

    let codePath = findPrebuiltBundle();
    if (codePath === undefined) {
      bundleFile = path.join(os.tmpdir(), `fbb-record-bundle-${process.pid}.js`);
      fs.writeFileSync(bundleFile, (await bundleWorkflows()).code);
      codePath = bundleFile;
    }

    const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
    const workerConnection = await NativeConnection.connect({ address: temporal.address });
    const histories: Record<string, string> = {};
    const record = async (name: string, handle: WorkflowHandle, expected: string) => {
      const result: unknown = await handle.result();
      const status = (result as { status?: string }).status;
      if (status !== expected) throw new Error(`${name}: expected status ${expected}, got ${JSON.stringify(result)}`);
      histories[name] = historyToJSON(await handle.fetchHistory());
      process.stderr.write(`record-histories: ${name} (${handle.workflowId}): ${status}\n`);
    };

    let filename = '';
    await withWorker(workerConnection, config, TASK_QUEUE, {}, codePath, async () => {
      const start = (type: string, workflowId: string, input: Record<string, unknown>) => client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId, args: [input] });

      const backup = await start('backupDatabase', 'record-backup-manual', { backup_type: 'manual' });
      await record('backup-manual', backup, 'success');
      filename = ((await backup.result()) as { filename: string }).filename;
      await record('backup-dry-run', await start('backupDatabase', 'record-backup-dry-run', { dry_run: true }), 'dry_run');
      await record('backup-daily-s3', await start('backupDatabase', 'record-backup-daily-s3', { backup_type: 'daily', upload_to_s3: true }), 'success');

      const confirmed = await start('restoreDatabase', 'record-restore-confirmed', { backup_filename: filename });
      await awaitingConfirmation(confirmed);
      await confirmed.signal(confirmRestore, { confirmed_by: 'recorder' });
      await record('restore-confirmed', confirmed, 'success');

      const cancelled = await start('restoreDatabase', 'record-restore-cancelled', { backup_filename: filename });
      await awaitingConfirmation(cancelled);
      await cancelled.signal(cancelRestore, { cancelled_by: 'recorder', reason: 'wrong file' });
      await record('restore-cancelled', cancelled, 'cancelled');

      // Confirmed by the confirmRestore Update (what fbb restore confirm sends), after one it refused (which leaves no event).
      const byUpdate = await start('restoreDatabase', 'record-restore-confirmed-by-update', { backup_filename: filename });
      await awaitingConfirmation(byUpdate);
      const refused = await byUpdate.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'recorder', database: 'elsewhere' }] }).then(() => false, () => true);
      const answer = await byUpdate.executeUpdate(confirmRestoreUpdate, { args: [{ confirmed_by: 'recorder', database: 'family_brain' }] });
      if (!refused || answer.phase !== 'restoring') throw new Error(`restore-confirmed-by-update: expected a refusal, then the answer phase restoring; got ${JSON.stringify({ refused, answer })}`);
      await record('restore-confirmed-by-update', byUpdate, 'success');

      await record('restore-expired', await start('restoreDatabase', 'record-restore-expired', { backup_filename: filename, confirmation_timeout: '2 seconds' }), 'expired');
    });

    // The rollback: the live check after the swap reports a wrong count (as test/restore.test.ts injects it).
    const real = createActivities({ config });
    const verifyLiveDatabase = async (expected: Record<string, number> | null, extensions: string[]) => {
      const check = await real.verifyLiveDatabase(expected, extensions);
      return { ...check, tables: { ...check.tables, tenants: { expected: 5, actual: 4 } }, ok: false };
    };
    await withWorker(workerConnection, config, ROLLBACK_TASK_QUEUE, { verifyLiveDatabase }, codePath, async () => {
      const handle = await client.workflow.start('restoreDatabase', {
        taskQueue: ROLLBACK_TASK_QUEUE,
        workflowId: 'record-restore-rolled-back',
        args: [{ backup_filename: filename, confirm_restore: true }],
      });
      await record('restore-rolled-back', handle, 'rolled_back');
    });
    await workerConnection.close();
    await client.connection.close();

    const dir = historiesDir();
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, json] of Object.entries(histories)) {
      const leaked = secretsIn(json);
      if (leaked.length > 0) throw new Error(`the ${name} history contains ${leaked.join(', ')}; nothing was written. Find where the workflow or an activity puts it in an input or result`);
    }
    for (const [name, json] of Object.entries(histories)) {
      const file = path.join(dir, `${name}.json`);
      fs.writeFileSync(`${file}.tmp`, `${JSON.stringify(JSON.parse(json), null, 1)}\n`);
      fs.renameSync(`${file}.tmp`, file);
      process.stderr.write(`record-histories: wrote ${path.relative(projectRoot(), file)} (${(fs.statSync(file).size / 1024).toFixed(1)} KiB)\n`);
    }
  } finally {
    await Promise.all([cluster.stop(), s3.stop(), temporal.stop()]);
    fs.rmSync(backupDir, { recursive: true, force: true });
    if (bundleFile) fs.rmSync(bundleFile, { force: true });
  }
}

// Run only as a program; test/replay.test.ts imports RECORDING_SECRETS and secretsIn.
if (path.resolve(process.argv[1] ?? '') === __filename) {
  main().catch((err: unknown) => {
    process.stderr.write(`record-histories: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
