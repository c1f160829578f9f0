// The official Temporal CLI's dev server (`temporal server start-dev`): a complete Temporal server
// with SQLite persistence, Schedules and the Web UI, started for tests, the demo and `fbb up`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { requireTemporalCli } from './temporalCli';
import { freePort, waitForPort } from './ports';

/** util-linux's setpriv, which sets the parent-death signal and then runs the command in its place (same pid). */
const SETPRIV = '/usr/bin/setpriv';

/** A running dev server. */
export interface TemporalDevServer {
  /** host:port of the frontend (gRPC). */
  address: string;
  namespace: string;
  /** The Web UI's base URL, or undefined when headless. */
  uiUrl: string | undefined;
  /** The SQLite file, or undefined when the state is in memory. */
  dbFile: string | undefined;
  /** The server's combined output. */
  logFile: string;
  pid: number;
  /** The last `lines` lines of the server's log, for a failing test's message. */
  logTail(lines?: number): string;
  /** SIGTERM, then SIGKILL after 10 s (in memory: SIGKILL); removes the temporary directory unless a state directory was given. */
  stop(): Promise<void>;
}

/** How to start a dev server. */
export interface TemporalDevServerOptions {
  /** Keep the SQLite file and the server's HOME here (`fbb up`); default a temporary directory removed at stop. */
  stateDir?: string;
  /** No SQLite file: the server keeps its state in memory and loses it at exit (`--local`). */
  inMemory?: boolean;
  /** The server dies with this process, even when it is killed with SIGKILL (Linux: `setpriv --pdeathsig`; elsewhere only on a normal exit). */
  dieWithParent?: boolean;
  /** Frontend port; default a free one. */
  port?: number;
  /** Web UI port; default a free one. */
  uiPort?: number;
  /** No Web UI. */
  headless?: boolean;
  /** Interface to bind; default 127.0.0.1. */
  ip?: string;
  namespace?: string;
  /** How long to wait for the frontend to answer; the SDK's 5 s is too short on a busy 2-core machine. */
  startTimeoutMs?: number;
  /** Extra `--dynamic-config-value KEY=JSON` pairs. */
  dynamicConfig?: Record<string, unknown>;
  cli?: string;
}

/** The dev server's process ended before its frontend answered. */
class ExitedAtStart extends Error {}

/**
 * Starts `temporal server start-dev` with nothing that reaches the internet: no version check, no UI
 * news feed, its own HOME. Resolves once the frontend answers a health check. When it picked the
 * ports itself and the server exits at start, it tries twice more with ports picked again (another
 * process may bind a picked port before the server does).
 */
export async function startTemporalDevServer(options: TemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (!(err instanceof ExitedAtStart) || options.port !== undefined || attempt >= 3) throw err;
    }
  }
}

async function startOnce(options: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const cli = options.cli ?? requireTemporalCli();
  const persistent = options.stateDir !== undefined;
  const root = persistent ? path.resolve(options.stateDir!) : fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-temporal-'));
  const home = path.join(root, 'home');
  fs.mkdirSync(home, { recursive: true });
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port ?? (await freePort());
  const uiPort = options.headless ? undefined : (options.uiPort ?? (await freePort()));
  const namespace = options.namespace ?? 'default';
  const dbFile = options.inMemory ? undefined : path.join(root, 'temporal.sqlite');
  const logFile = path.join(root, 'server.log');
  const dynamicConfig = { 'frontend.enableServerVersionCheck': false, ...options.dynamicConfig };
  const args = [
    'server', 'start-dev',
    '--ip', ip,
    '--port', String(port),
    ...(dbFile === undefined ? [] : ['--db-filename', dbFile]),
    '--log-level', 'warn',
    ...(namespace === 'default' ? [] : ['--namespace', namespace]),
    ...(uiPort === undefined ? ['--headless'] : ['--ui-port', String(uiPort), '--ui-ip', ip, '--ui-disable-news-fetch']),
    ...Object.entries(dynamicConfig).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${JSON.stringify(value)}`]),
  ];
  const orphanKiller = options.dieWithParent && fs.existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'SIGKILL', '--'] : [];
  const [command, ...commandArgs] = [...orphanKiller, cli, ...args];
  const child: ResultPromise = execa(command!, commandArgs, {
    env: { HOME: home, TEMPORAL_VERSION_CHECK_DISABLED: '1', PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    stdin: 'ignore',
    all: true,
    buffer: false,
    reject: false,
    cleanup: true,
  });
  const log = fs.createWriteStream(logFile, { flags: 'a' });
  child.all?.pipe(log);
  // The log is complete once the child's output has been flushed into the file.
  const logWritten = new Promise<void>((resolve) => log.once('close', resolve));
  const logTail = (lines = 40) => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '';
    }
  };
  const logHead = (lines = 8) => {
    try {
      return fs.readFileSync(logFile, 'utf8').split('\n').slice(0, lines).join('\n');
    } catch {
      return '';
    }
  };
  let exited = false;
  const ended = child.then(() => void (exited = true));

  const stop = async (): Promise<void> => {
    if (!exited) {
      // In memory there is nothing to save: no need to wait the second or two a graceful stop takes.
      child.kill(dbFile === undefined ? 'SIGKILL' : 'SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await ended;
      clearTimeout(killer);
    }
    if (!persistent) fs.rmSync(root, { recursive: true, force: true });
  };

  const address = `${ip}:${port}`;
  try {
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    await Promise.race([
      waitForHealth(cli, address, timeoutMs).then(async () => (uiPort === undefined ? undefined : waitForPort(ip, uiPort, timeoutMs))),
      ended.then(async () => {
        await logWritten;
        throw new ExitedAtStart(`temporal server start-dev exited at start:\n${logHead()}\n…\n${logTail()}`);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address,
    namespace,
    uiUrl: uiPort === undefined ? undefined : `http://${ip}:${uiPort}`,
    dbFile,
    logFile,
    pid: child.pid!,
    logTail,
    stop,
  };
}

/** Polls `temporal operator cluster health` until it says SERVING. */
async function waitForHealth(cli: string, address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { stdout, exitCode } = await execa(cli, ['operator', 'cluster', 'health', '--address', address], {
      reject: false,
      timeout: 5_000,
      env: { TEMPORAL_VERSION_CHECK_DISABLED: '1' },
    });
    if (exitCode === 0 && stdout.includes('SERVING')) return;
    if (Date.now() > deadline) throw new Error(`the Temporal dev server at ${address} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
