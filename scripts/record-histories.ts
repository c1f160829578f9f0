// `npm run record-histories`: records the workflow histories test/replay.test.ts replays against the
// current workflow code, into test/fixtures/histories/<name>.json (what `temporal workflow show
// --output json` prints). Run it to add a scenario for a new path; commit the files it writes. A
// change to workflow code that breaks a committed history goes behind patched() (docs/design.md).
// `npm run record-histories -- physical` (any of GROUPS) writes only those groups' histories and
// leaves every other file as it is; the restore groups still run the backups they need, unkept.
//
// Everything is throwaway and its own: a PostgreSQL 15 cluster with the sample database (scale 1),
// s3rver, a Temporal dev server (headless) and the production worker (src/worker.ts: shared and own
// task queue, the lock workflow, the default settings). The scenarios are in ./historyScenarios.ts.
// A history that contains one of the secrets it used is not written.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { execa } from 'execa';
import pg from 'pg';
import { createActivities } from '../src/activities';
import { loadConfig, type Config } from '../src/config';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster } from '../src/sample/pgCluster';
import { requireTemporalCli } from '../src/temporalCli';
import { startTemporalDevServer } from '../src/temporalServer';
import { routeToVersion, workerOptions } from '../src/worker';
import { startS3Server } from '../test/s3server';
import { walDir, parseSpoolName, storedName } from '../src/wal/layout';
import { recordBackups, recordPartialRestores, recordPhysical, recordPhysicalRetention, recordRestores, type Recording } from './historyScenarios';

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

/** The scenario groups, in the order they run (scripts/historyScenarios.ts). */
export const GROUPS = ['backups', 'restores', 'partial-restores', 'rollback', 'physical', 'physical-retention'] as const;
type Group = (typeof GROUPS)[number];

/** The groups named on the command line (none: all); an unknown name stops the recorder before anything starts. */
export function selectedGroups(argv: string[]): Set<Group> {
  const unknown = argv.filter((name) => !(GROUPS as readonly string[]).includes(name));
  if (unknown.length > 0) throw new Error(`unknown scenario group ${unknown.map((u) => `"${u}"`).join(', ')}: expected any of ${GROUPS.join(', ')} (none: all of them); nothing was recorded`);
  return new Set(argv.length === 0 ? GROUPS : (argv as Group[]));
}

const TASK_QUEUE = 'record-histories';
const ROLLBACK_TASK_QUEUE = 'record-histories-rollback';

/** A run's history as `temporal workflow show --output json` prints it (what the SDK's replay reads). */
async function historyJson(cli: string, address: string, workflowId: string, runId: string): Promise<string> {
  const { stdout } = await execa(cli, ['workflow', 'show', '--address', address, '--namespace', 'default', '--workflow-id', workflowId, '--run-id', runId, '--output', 'json'], { timeout: 60_000 });
  return stdout;
}

/**
 * Runs a production worker (src/worker.ts workerOptions: the shared queue with every workflow and
 * activity, the process's own queue, the lock workflow) until `fn` resolves; `overrides` replace activities.
 */
async function withProductionWorker<T>(connection: NativeConnection, config: Config, overrides: Record<string, unknown>, fn: () => Promise<T>): Promise<T> {
  const options = await workerOptions(config, connection, config.temporal.namespace);
  const activities = { ...(options.shared.activities as Record<string, unknown>), ...overrides };
  const shared = await Worker.create({ ...options.shared, activities });
  const own = await Worker.create({ ...options.own, activities });
  // As a production worker: its version becomes current when the (fresh) server's deployment has none.
  const routed = routeToVersion({ connection, namespace: config.temporal.namespace, options, shared, log: Runtime.instance().logger });
  const work = routed.then(fn);
  await Promise.all([shared.runUntil(work), own.runUntil(work)]);
  return work;
}

async function main(selected: Set<Group>): Promise<void> {
  const noop = () => undefined;
  const warn = (message: string) => process.stderr.write(`[sdk] ${message}\n`);
  Runtime.install({ logger: { log: noop, trace: noop, debug: noop, info: noop, warn, error: warn } });
  const cli = requireTemporalCli();

  process.stderr.write('record-histories: starting PostgreSQL (sample database), s3rver and a Temporal dev server...\n');
  const [cluster, s3, temporal] = await Promise.all([
    startPgCluster({ password: RECORDING_SECRETS.PGPASSWORD }),
    startS3Server(),
    startTemporalDevServer({ cli, headless: true, startTimeoutMs: 120_000 }),
  ]);
  const backupDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-record-'));
  // Restore targets: the server user (postgres, when we are root) must reach their parent.
  const targets = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-record-targets-'));
  fs.chmodSync(targets, 0o755);
  try {
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
    await admin.connect();
    await admin.query('CREATE DATABASE family_brain');
    await admin.end();
    const db = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' });
    await db.connect();
    await loadSampleDatabase(db, { scale: 1 });
    const tenant = (await db.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug LIMIT 1')).rows[0]!.id;
    const sysid = (await db.query<{ id: string }>('SELECT system_identifier::text AS id FROM pg_control_system()')).rows[0]!.id;
    await db.end();

    // The AWS SDK reads the keys from its default chain, as in production.
    process.env.AWS_ACCESS_KEY_ID = RECORDING_SECRETS.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = RECORDING_SECRETS.AWS_SECRET_ACCESS_KEY;
    const env = {
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
    };
    const config = loadConfig(env);

    const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
    const workerConnection = await NativeConnection.connect({ address: temporal.address });
    const histories: Record<string, string> = {};
    // The group running now: only the selected groups' histories are kept.
    let group: Group = 'backups';
    const keep = async (name: string, workflowId: string, runId: string) => {
      if (!selected.has(group)) return void process.stderr.write(`record-histories: ${name} ran (group ${group}, not kept)\n`);
      histories[name] = await historyJson(cli, temporal.address, workflowId, runId);
      process.stderr.write(`record-histories: ${name} (${workflowId})\n`);
    };
    const recording: Recording = {
      database: 'family_brain',
      server: `${cluster.host}:${cluster.port}`,
      tenant,
      start: (type, workflowId, input) => client.workflow.start(type, { taskQueue: config.temporal.taskQueue, workflowId, args: [input] }),
      async record(name, handle, expected) {
        const result = (await handle.result()) as Record<string, unknown>;
        if (expected !== undefined && result.status !== expected) throw new Error(`${name}: expected status ${expected}, got ${JSON.stringify(result).slice(0, 2000)}`);
        await keep(name, handle.workflowId, (await handle.describe()).runId);
        return result;
      },
      recordRun: keep,
      async sql<T>(text: string) {
        const c = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' });
        await c.connect();
        try {
          return (await c.query(text)).rows as T[];
        } finally {
          await c.end();
        }
      },
      archived: (segment) => fs.existsSync(path.join(backupDir, walDir(sysid), storedName(parseSpoolName(segment)!, false))),
      newDir: (label) => path.join(targets, label),
      async lockRuns(handle) {
        const { events } = await handle.fetchHistory();
        return (events ?? []).flatMap((e) => {
          const started = e.childWorkflowExecutionStartedEventAttributes;
          return started?.workflowType?.name === 'databaseLock' ? [{ workflowId: started.workflowExecution!.workflowId!, runId: started.workflowExecution!.runId! }] : [];
        });
      },
    };

    let filename = '';
    const dumps = (['backups', 'restores', 'partial-restores', 'rollback'] as const).some((g) => selected.has(g));
    if (dumps) {
      await withProductionWorker(workerConnection, config, {}, async () => {
        group = 'backups';
        filename = await recordBackups(recording);
        group = 'restores';
        if (selected.has(group)) await recordRestores(recording, filename);
        group = 'partial-restores';
        if (selected.has(group)) await recordPartialRestores(recording, filename);
      });
    }

    // The rollback: the live check after the swap reports a wrong count (as test/restore.test.ts injects it).
    group = 'rollback';
    if (selected.has(group)) await recordRollback({ client, workerConnection, env, filename, recording });
    group = 'physical';
    if (selected.has(group)) await withProductionWorker(workerConnection, config, {}, () => recordPhysical(recording));
    group = 'physical-retention';
    if (selected.has(group)) await withProductionWorker(workerConnection, config, {}, () => recordPhysicalRetention(recording));
    await workerConnection.close();
    await client.connection.close();
    writeHistories(histories);
  } finally {
    await Promise.all([cluster.stop(), s3.stop(), temporal.stop()]);
    fs.rmSync(backupDir, { recursive: true, force: true });
    fs.rmSync(targets, { recursive: true, force: true });
  }
}

/** restoreDatabase rolled back: the live check after the swap reports a wrong count, on a worker of its own queue. */
async function recordRollback(run: { client: Client; workerConnection: NativeConnection; env: Record<string, string>; filename: string; recording: Recording }): Promise<void> {
  const { client, workerConnection, env, filename, recording } = run;
  const rollbackConfig = loadConfig({ ...env, TEMPORAL_TASK_QUEUE: ROLLBACK_TASK_QUEUE });
  const real = createActivities({ config: rollbackConfig });
  const verifyLiveDatabase = async (expected: Record<string, number> | null, extensions: string[]) => {
    const check = await real.verifyLiveDatabase(expected, extensions);
    return { ...check, tables: { ...check.tables, tenants: { expected: 5, actual: 4 } }, ok: false };
  };
  await withProductionWorker(workerConnection, rollbackConfig, { verifyLiveDatabase }, async () => {
    const handle = await client.workflow.start('restoreDatabase', {
      taskQueue: ROLLBACK_TASK_QUEUE,
      workflowId: 'record-restore-rolled-back',
      args: [{ backup_filename: filename, confirm_restore: true }],
    });
    await recording.record('restore-rolled-back', handle, 'rolled_back');
  });
}

/** Writes every history (atomically, each file), or none when one holds a recording secret. */
function writeHistories(histories: Record<string, string>): void {
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
}

// Run only as a program; test/replay.test.ts imports RECORDING_SECRETS and secretsIn.
if (path.resolve(process.argv[1] ?? '') === __filename) {
  Promise.resolve()
    .then(() => main(selectedGroups(process.argv.slice(2))))
    .catch((err: unknown) => {
    process.stderr.write(`record-histories: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
