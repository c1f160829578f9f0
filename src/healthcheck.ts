// `node dist/src/healthcheck.js`: exits 0 when the worker's /healthz answers 200, else 1 with one line saying why.
import { parseHostPort, type HealthReport } from './observability/health';

/** How long the probe waits for an answer. */
const TIMEOUT_MS = 3_000;

/** Where the probe sends its GET: the worker's port on loopback when it listens on every interface. */
export function healthUrl(address: string): string {
  const { host, port } = parseHostPort(address);
  const target = host === '0.0.0.0' || host === '::' || host === '*' ? '127.0.0.1' : host;
  return `http://${target}:${port}/healthz`;
}

/** Probes the worker named by WORKER_HEALTH_ADDRESS in `env`; writes one line and returns the exit code. */
export async function runHealthcheck(options: { env?: NodeJS.ProcessEnv; stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream; timeoutMs?: number } = {}): Promise<number> {
  const { env = process.env, stdout = process.stdout, stderr = process.stderr, timeoutMs = TIMEOUT_MS } = options;
  const fail = (reason: string) => (stderr.write(`unhealthy: ${reason}\n`), 1);
  const address = env.WORKER_HEALTH_ADDRESS;
  if (address === undefined || address === '') return fail('WORKER_HEALTH_ADDRESS is not set, so the worker serves no health check; set it (example: WORKER_HEALTH_ADDRESS=0.0.0.0:8081) for the worker and this probe');
  let url: string;
  try {
    url = healthUrl(address);
  } catch (err) {
    return fail(`WORKER_HEALTH_ADDRESS ${(err as Error).message}`);
  }
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as Error & { cause?: NodeJS.ErrnoException }).cause;
    if ((err as Error).name === 'TimeoutError') return fail(`no answer from ${url} within ${timeoutMs / 1000} s`);
    if (cause?.code === 'ECONNREFUSED') return fail(`nothing listens at ${url} (ECONNREFUSED): the worker is not running, or not with WORKER_HEALTH_ADDRESS=${address}`);
    return fail(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await response.text().catch(() => '');
  const report = parseReport(text);
  if (response.status === 200) {
    stdout.write(`healthy: worker ${report?.workerState ?? 'RUNNING'} on task queue ${report?.taskQueue ?? '?'}, up ${report?.uptimeSeconds ?? '?'} s\n`);
    return 0;
  }
  if (response.status === 503 && report !== undefined) return fail(`worker is ${report.workerState}, not RUNNING (HTTP 503 from ${url})`);
  return fail(`HTTP ${response.status} from ${url}, expected 200`);
}

function parseReport(text: string): HealthReport | undefined {
  try {
    const value = JSON.parse(text) as Partial<HealthReport>;
    return typeof value.workerState === 'string' ? (value as HealthReport) : undefined;
  } catch {
    return undefined;
  }
}

if (require.main === module) {
  void runHealthcheck().then((code) => process.exit(code));
}
