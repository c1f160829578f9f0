// `npm run demo`: the main job, a verified backup, as a real Temporal workflow on embedded defaults.
// It starts a throwaway PostgreSQL with the sample Family Second Brain database (unless
// DATABASE_URL/PGHOST name one), a Temporal dev server with its Web UI, and a worker in this
// process; runs `fbb backup` through the Temporal client (into ./backups); prints the result and the
// run's link in the Web UI; and stops everything it started, also when a step fails or on Ctrl-C.
// `--keep` (or DEMO_KEEP=1) keeps it all up for a look until Ctrl-C. `--local` runs
// `fbb backup --local` instead (a throwaway Temporal server, the worker in this process; not durable). `--postgres 17`
// runs the throwaway PostgreSQL on that major (Debian's or .tools/postgresql-17's). Other arguments go to `fbb backup`.
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Runtime } from '@temporalio/worker';
import pg from 'pg';
import { runCli } from '../src/client/cli';
import { ConfigError, loadConfig } from '../src/config';
import { describeVersion, startLocalWorker } from '../src/localWorker';
import { createLogger } from '../src/observability/logger';
import { requireTemporalCli, temporalCliVersion } from '../src/temporalCli';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { startTemporalDevServer, type TemporalDevServer } from '../src/temporalServer';

const say = (line: string) => void process.stderr.write(`demo: ${line}\n`);

/** Settings of the user's environment that would point the demo's client and worker elsewhere. */
const FOREIGN_TEMPORAL = ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA', 'TEMPORAL_TLS_SERVER_NAME', 'TEMPORAL_API_KEY'];

/** What the demo started, stopped last-first; a stop that finds nothing to stop returns false. */
class Started {
  private readonly stops: { name: string; stop: () => Promise<boolean> }[] = [];
  add(name: string, stop: () => Promise<boolean>): void {
    this.stops.push({ name, stop });
  }
  async stopAll(): Promise<void> {
    const stopped: string[] = [];
    for (let s = this.stops.pop(); s !== undefined; s = this.stops.pop()) {
      const { name, stop } = s;
      if (await stop().catch((err: unknown) => say(`stopping the ${name} failed: ${err instanceof Error ? err.message : String(err)}`))) stopped.push(name);
    }
    if (stopped.length > 0) say(`stopped the ${stopped.join(', the ')}`);
  }
}

/** Resolves with the first SIGINT or SIGTERM; later ones only say that the demo is stopping. */
function interrupted(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let first: NodeJS.Signals | undefined;
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        if (first !== undefined) return say('still stopping what the demo started...');
        resolve((first = signal));
      });
    }
  });
}

/** process.stderr, with a copy of what went through it. */
function teeStderr(): { stream: NodeJS.WritableStream; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      process.stderr.write(chunk);
      done();
    },
  });
  // fbb draws its progress line only on a terminal.
  Object.assign(stream, { isTTY: process.stderr.isTTY });
  return { stream, text: () => text };
}

async function startThrowawayPostgres(started: Started, major: number | undefined): Promise<PgCluster> {
  // Registered before it is up, so that a Ctrl-C during the start still stops it.
  const starting = startPgCluster({ major });
  started.add('throwaway PostgreSQL', () => starting.then((c) => c.stop().then(() => true), () => false));
  const cluster = await starting;
  const root = path.dirname(cluster.dataDir);
  const pid = fs.readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
  const connect = (database: string) => new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database });
  const admin = connect('postgres');
  await admin.connect();
  await admin.query('CREATE DATABASE family_brain').finally(() => admin.end());
  const db = connect('family_brain');
  await db.connect();
  await loadSampleDatabase(db, { scale: Number(process.env.DEMO_SCALE ?? 1) }).finally(() => db.end());
  const version = fs.readFileSync(path.join(cluster.dataDir, 'PG_VERSION'), 'utf8').trim();
  say(`PostgreSQL ${version} with pgvector at ${cluster.host}:${cluster.port} (pid ${pid}, files in ${root}), sample database family_brain loaded`);
  return cluster;
}

async function startServer(started: Started, cli: string): Promise<TemporalDevServer> {
  const t0 = Date.now();
  const starting = startTemporalDevServer({ cli, startTimeoutMs: 120_000 });
  started.add('Temporal dev server', () => starting.then((s) => s.stop().then(() => true), () => false));
  const server = await starting;
  const version = (await temporalCliVersion(cli)).replace(/^temporal version /, '');
  say(`Temporal dev server ${version} at ${server.address}, Web UI ${server.uiUrl}, up in ${((Date.now() - t0) / 1000).toFixed(1)} s (pid ${server.pid}, files in ${path.dirname(server.logFile)})`);
  return server;
}

/** The durable demo: everything it starts goes into `started`, which the caller stops. */
async function durable(args: string[], keep: boolean, started: Started, major: number | undefined): Promise<number> {
  const cli = requireTemporalCli();
  const ownDatabase = !(process.env.DATABASE_URL || process.env.PGHOST);
  if (ownDatabase) say(`starting a throwaway PostgreSQL ${major ?? 15} with the sample Family Second Brain database and a Temporal dev server...`);
  else say('using the database from DATABASE_URL/PGHOST; starting a Temporal dev server...');
  // Both at once; when one fails, the other is still stopped (it is in `started` once up).
  const [cluster, server] = await Promise.allSettled([ownDatabase ? startThrowawayPostgres(started, major) : Promise.resolve(undefined), startServer(started, cli)]);
  if (cluster.status === 'rejected') throw cluster.reason;
  if (server.status === 'rejected') throw server.reason;

  const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: server.value.address, TEMPORAL_NAMESPACE: server.value.namespace };
  for (const name of FOREIGN_TEMPORAL) delete env[name];
  if (cluster.value !== undefined) {
    const c = cluster.value;
    Object.assign(env, { PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGPASSWORD: c.password, PGDATABASE: 'family_brain', PG_BIN_DIR: process.env.PG_BIN_DIR ?? c.binDir });
  }
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`fbb: ${err.message}\n`);
    return 2;
  }
  Runtime.install({ logger: createLogger({ format: 'text', level: 'warn' }), shutdownSignals: [] });
  const worker = await startLocalWorker(config);
  started.add('worker', () => worker.stop().then(() => true));
  say(`worker polling task queue ${config.temporal.taskQueue} in this process, worker version ${describeVersion(worker)}`);
  say(`running "fbb ${['backup', ...args].join(' ')}" with TEMPORAL_ADDRESS=${server.value.address}\n`);

  const stderr = teeStderr();
  const code = await runCli(['backup', ...args], { env, stderr: stderr.stream });
  const workflowId = /^fbb: backup (\S+) /m.exec(stderr.text())?.[1];
  process.stderr.write('\n');
  if (workflowId !== undefined) say(`the run in the Temporal Web UI: ${server.value.uiUrl}/namespaces/${server.value.namespace}/workflows/${encodeURIComponent(workflowId)}`);
  if (keep) {
    say(`kept up for a look (--keep): Web UI ${server.value.uiUrl}, Temporal at ${server.value.address} (e.g. TEMPORAL_ADDRESS=${server.value.address} npx fbb history)`);
    say('press Ctrl-C to stop everything');
  }
  return code;
}

/** `--local`: the backup as `fbb backup --local` runs it, on a throwaway server with the worker in this process. */
async function local(args: string[], started: Started, major: number | undefined): Promise<number> {
  if (process.env.DATABASE_URL || process.env.PGHOST) {
    say('using the database from DATABASE_URL/PGHOST');
    return runCli(['backup', ...args]);
  }
  say(`starting a throwaway PostgreSQL ${major ?? 15} with pgvector and the sample Family Second Brain database...`);
  const c = await startThrowawayPostgres(started, major);
  say(`running "fbb ${['backup', ...args].join(' ')}" against it\n`);
  const env = { ...process.env, PGHOST: c.host, PGPORT: String(c.port), PGUSER: c.user, PGPASSWORD: c.password, PGDATABASE: 'family_brain', PG_BIN_DIR: process.env.PG_BIN_DIR ?? c.binDir };
  const code = await runCli(['backup', ...args], { env });
  process.stderr.write('\n');
  return code;
}

/** `--postgres N` / `--postgres=N`: the throwaway server's major; the other arguments are fbb backup's. */
function postgresMajor(argv: string[]): { major: number | undefined; rest: string[] } {
  const at = argv.findIndex((a) => a === '--postgres' || a.startsWith('--postgres='));
  if (at < 0) return { major: undefined, rest: argv };
  const inline = argv[at]!.startsWith('--postgres=');
  const value = inline ? argv[at]!.slice('--postgres='.length) : argv[at + 1];
  if (value === undefined || !/^\d+$/.test(value)) throw new Error(`--postgres expects a major version such as 17, got ${value === undefined ? 'nothing' : `"${value}"`}`);
  return { major: Number(value), rest: [...argv.slice(0, at), ...argv.slice(at + (inline ? 1 : 2))] };
}

async function main(argv: string[]): Promise<number> {
  const keep = argv.includes('--keep') || ['1', 'true', 'yes'].includes(process.env.DEMO_KEEP ?? '');
  const { major, rest } = postgresMajor(argv.filter((a) => a !== '--keep'));
  const args = rest;
  const started = new Started();
  const signal = interrupted();
  const durableRun = !args.includes('--local');
  const job = durableRun ? durable(args, keep, started, major) : local(args, started, major);
  try {
    // Ctrl-C while a step runs: stop what is up and leave; the step's own errors no longer matter.
    const outcome = await Promise.race([job.then((code) => ({ code })), signal.then((s) => ({ signal: s }))]);
    if ('signal' in outcome) {
      job.catch(() => undefined);
      say(`${outcome.signal}: stopping`);
      return outcome.signal === 'SIGINT' ? 130 : 143;
    }
    // Kept up for a look: the exit code is still the backup's.
    if (keep && durableRun) await signal;
    return outcome.code;
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    return 1;
  } finally {
    await started.stopAll();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    say(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
