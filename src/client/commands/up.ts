// `fbb up`: the whole product on one machine without Docker. A Temporal dev server keeps its state in a
// SQLite file in the state directory, a worker runs in this process, the WAL archive starts when the
// database allows it, the schedules are applied; it stays up until SIGINT or SIGTERM, then stops the worker (running activities finish)
// and the server. It uses the configured database and never starts one.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Runtime } from '@temporalio/worker';
import { Option, type Command } from 'commander';
import type { Config } from '../../config';
import { describeVersion, startLocalWorker, type LocalWorker } from '../../localWorker';
import { startHealthServer, type HealthServer } from '../../observability/health';
import { createLogger } from '../../observability/logger';
import { runtimeOptions } from '../../observability/runtime';
import { schedulesFor } from '../../schedules/definitions';
import { applySchedules } from '../../schedules/apply';
import { MissingTemporalCliError, requireTemporalCli } from '../../temporalCli';
import { startTemporalDevServer } from '../../temporalServer';
import { connectTemporal } from '../connection';
import type { CommandContext } from '../context';
import { CliError, ExitCode } from '../exitCodes';
import { formatTable } from '../output';
import { temporalScheduleGateway } from '../scheduleGateway';
import { startArchiveWhenAllowed, type UpArchive } from '../upArchive';

/** Where `fbb up` keeps the server's state without FBB_STATE_DIR: $XDG_STATE_HOME/family-brain-backup, else ~/.local/state/family-brain-backup. */
function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'family-brain-backup');
}

interface UpOptions {
  stateDir: string;
  uiPort?: number;
}

/** `fbb up`: dev server, worker and schedules on this machine, until Ctrl-C or SIGTERM. */
export function registerUp(program: Command, ctx: CommandContext): void {
  program
    .command('up')
    .description('run it all on this machine without Docker: a Temporal server (state in a SQLite file), the worker, the WAL archive (when the database allows it) and the schedules, until Ctrl-C or SIGTERM')
    .addOption(
      new Option('--state-dir <dir>', "the Temporal server's SQLite file and log").env('FBB_STATE_DIR').default(defaultStateDir(), '$XDG_STATE_HOME/family-brain-backup, else ~/.local/state/family-brain-backup'),
    )
    .addOption(new Option('--ui-port <port>', 'Web UI port (default: the port of TEMPORAL_ADDRESS + 1000, e.g. 8233)').argParser(parsePort))
    .addHelpText(
      'after',
      '\nThe server listens on TEMPORAL_ADDRESS (default localhost:7233), so every other fbb command finds it as it is.\n' +
        'It uses the database of DATABASE_URL/PG*; it does not start one.\n' +
        'Exit code 2 when the Temporal CLI is missing or a port is taken (nothing was started).\n' +
        '\nExamples:\n  $ fbb up\n  $ fbb up --state-dir /var/lib/family-brain-backup --ui-port 8080\n',
    )
    .action((opts: UpOptions) => up(ctx, opts));
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CliError(`--ui-port must be a port from 1 to 65535, got "${value}"`, ExitCode.badInput);
  return port;
}

/** The interface the dev server binds for TEMPORAL_ADDRESS's host; only this machine's names are accepted. */
function bindAddress(address: string): { ip: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(address);
  const host = m?.[1]?.replace(/^\[|\]$/g, '');
  const port = Number(m?.[2]);
  const ip = host === 'localhost' || host === '127.0.0.1' ? '127.0.0.1' : host === '0.0.0.0' ? '0.0.0.0' : undefined;
  if (ip === undefined || !(port >= 1 && port <= 65535)) {
    throw new CliError(
      `TEMPORAL_ADDRESS=${address}: fbb up starts the Temporal server on this machine, so it needs localhost:<port>, 127.0.0.1:<port> or 0.0.0.0:<port> (all interfaces); ` +
        'unset it for localhost:7233, or, to use the server at that address, run the worker alone ("npm run worker")',
      ExitCode.badInput,
    );
  }
  return { ip, port };
}

/** Refuses, naming the setting to change, when something already listens on ip:port. */
async function assertPortFree(ip: string, port: number, what: string, fix: string): Promise<void> {
  const problem = await new Promise<string | undefined>((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    probe.listen(port, ip, () => probe.close(() => resolve(undefined)));
  });
  if (problem !== undefined) {
    throw new CliError(`${what}: port ${port} on ${ip} is not free (${problem}): another Temporal server, or "fbb up" already running? Stop it, or ${fix}`, ExitCode.badInput);
  }
}

/** Resolves with the first SIGINT or SIGTERM; until `dispose`, the process does not die of them. */
function stopSignal(): { received: Promise<NodeJS.Signals>; dispose: () => void } {
  let onSignal: (s: NodeJS.Signals) => void = () => undefined;
  const received = new Promise<NodeJS.Signals>((resolve) => (onSignal = resolve));
  const handler = (signal: NodeJS.Signals) => onSignal(signal);
  process.on('SIGINT', handler).on('SIGTERM', handler);
  return { received, dispose: () => void process.off('SIGINT', handler).off('SIGTERM', handler) };
}

/** Resolves when the process `pid` is gone (polled: the server's own handle is not ours to watch). */
function gone(pid: number, everyMs = 2_000): { promise: Promise<void>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setInterval(() => {
      try {
        process.kill(pid, 0);
      } catch {
        resolve();
      }
    }, everyMs);
  });
  return { promise, cancel: () => clearInterval(timer) };
}

async function up(ctx: CommandContext, opts: UpOptions): Promise<void> {
  const config = ctx.config();
  if (config.temporal.tls !== undefined || config.temporal.apiKey !== undefined) {
    throw new CliError(
      'fbb up runs its own Temporal server on this machine, without TLS, but TEMPORAL_TLS_* or TEMPORAL_API_KEY is set; unset them for fbb up, or, to use that secured server, run the worker alone ("npm run worker")',
      ExitCode.badInput,
    );
  }
  const { ip, port } = bindAddress(config.temporal.address);
  let cli: string;
  try {
    cli = requireTemporalCli();
  } catch (err) {
    if (err instanceof MissingTemporalCliError) throw new CliError(`fbb up needs the Temporal CLI, which runs the server: ${err.message}`, ExitCode.badInput);
    throw err;
  }
  const uiPort = opts.uiPort ?? port + 1000;
  if (uiPort > 65535) throw new CliError(`the Web UI would listen on port ${uiPort} (TEMPORAL_ADDRESS's port + 1000), which does not exist; pass --ui-port`, ExitCode.badInput);
  await assertPortFree(ip, port, `TEMPORAL_ADDRESS=${config.temporal.address}`, `set TEMPORAL_ADDRESS=localhost:<free port> for fbb up and every fbb command`);
  await assertPortFree(ip, uiPort, 'the Web UI', 'pass --ui-port <free port>');
  const stateDir = path.resolve(opts.stateDir);
  fs.mkdirSync(stateDir, { recursive: true });

  // From here on, a signal stops what is up instead of killing the process.
  const signal = stopSignal();
  try {
    await serve(ctx, config, { cli, ip, port, uiPort, stateDir }, signal.received);
  } finally {
    signal.dispose();
  }
}

async function serve(ctx: CommandContext, config: Config, at: { cli: string; ip: string; port: number; uiPort: number; stateDir: string }, stopRequested: Promise<NodeJS.Signals>): Promise<void> {
  const t0 = Date.now();
  ctx.notice(`fbb up: starting the Temporal server on ${at.ip}:${at.port} (state in ${at.stateDir})...`);
  const starting = startTemporalDevServer({ cli: at.cli, stateDir: at.stateDir, ip: at.ip, port: at.port, uiPort: at.uiPort, namespace: config.temporal.namespace, startTimeoutMs: 120_000 }).catch(
    (err: unknown) => {
      throw new CliError(`fbb up: the Temporal server did not start: ${err instanceof Error ? err.message : String(err)}`, ExitCode.failed);
    },
  );
  const first = await Promise.race([starting.then(() => undefined), stopRequested]);
  const server = await starting;
  if (first !== undefined) {
    await server.stop();
    ctx.notice(`fbb up: ${first} during the start: stopped`);
    return;
  }
  const serverSeconds = ((Date.now() - t0) / 1000).toFixed(1);

  let worker: LocalWorker | undefined;
  let health: HealthServer | undefined;
  const serverGone = gone(server.pid);
  try {
    const logger = createLogger({ format: config.worker.logFormat, level: config.logLevel });
    // This command decides the order of the stop (worker first, then server), not the runtime.
    Runtime.install({ ...runtimeOptions(config, logger), shutdownSignals: [] });
    if (config.worker.healthAddress !== undefined) {
      health = await startHealthServer({ address: config.worker.healthAddress, taskQueue: config.temporal.taskQueue, state: () => worker?.worker.getState() ?? 'STARTING' });
    }
    worker = await startLocalWorker(config);
    const { archive, applied } = await archiveAndSchedules(config);
    ctx.stdout.write(
      `fbb up: running on this machine (Temporal server up in ${serverSeconds} s)\n` +
        `${formatTable([
          ['  Temporal', `${config.temporal.address} (namespace ${config.temporal.namespace}; pid ${server.pid})`],
          ['  Web UI', server.uiUrl ?? 'none'],
          ['  worker', `in this process (pid ${process.pid}), task queue ${config.temporal.taskQueue}${health ? `, health http://${config.worker.healthAddress}/healthz` : ''}`],
          ['  version', describeVersion(worker)],
          ['  database', `${config.database.user}@${config.database.host}:${config.database.port}/${config.database.database} (check it with "fbb doctor")`],
          ['  backups', config.backup.dir + (config.s3 ? `, then s3://${config.s3.bucket}/${config.s3.prefix}` : '')],
          ['  archive', archive.line],
          ['  schedules', `${[...applied.created.map((s) => `${s} (created)`), ...applied.updated.map((s) => `${s} (updated)`)].join(', ')}; in ${config.schedules.timezone}`],
          ['  state', `${at.stateDir} (temporal.sqlite, server.log)`],
        ])}\n` +
        'Stop with Ctrl-C or SIGTERM: running backups finish first (up to WORKER_SHUTDOWN_GRACE_SECONDS), then the server stops; its state stays.\n',
    );
    const why = await Promise.race([
      stopRequested.then((s) => ({ signal: s })),
      worker.done.then(
        () => ({ failure: 'the worker stopped on its own' }),
        (err: unknown) => ({ failure: `the worker failed: ${err instanceof Error ? err.message : String(err)}` }),
      ),
      serverGone.promise.then(() => ({ failure: `the Temporal server exited; its log ends with:\n${server.logTail(20)}` })),
    ]);
    if ('failure' in why) throw new CliError(`fbb up: ${why.failure}; stopping`, ExitCode.failed);
    ctx.notice(`fbb up: ${why.signal}: stopping the worker (running activities get up to ${config.worker.shutdownGraceMs / 1000} s), then the Temporal server`);
  } finally {
    serverGone.cancel();
    await worker?.stop();
    await health?.close();
    await server.stop();
    ctx.notice(`fbb up: stopped; the state stays in ${at.stateDir}`);
  }
}

/** The WAL archive when the database allows it, then `fbb schedules apply` (the base-backup ones too while the archive runs, with BASEBACKUP_SCHEDULE=auto). */
async function archiveAndSchedules(config: Config): Promise<{ archive: UpArchive; applied: { created: string[]; updated: string[] } }> {
  const client = await connectTemporal(config.temporal);
  try {
    const archive = await startArchiveWhenAllowed(client, config);
    return { archive, applied: await applySchedules(temporalScheduleGateway(client), schedulesFor(config, { walArchiveRunning: archive.running })) };
  } finally {
    await client.connection.close();
  }
}
