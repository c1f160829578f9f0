// The worker's log lines: JSON (one object per line, for log collectors) or readable text.
import { inspect } from 'node:util';
import { DefaultLogger, type LogEntry, type LogLevel } from '@temporalio/worker';
import type { Config } from '../config';

/** Where lines go; the default is stderr, as the SDK's own logger does. */
export type LineWriter = (line: string) => void;

/** A Temporal logger at `level` writing `format` lines; pass it to Runtime.install and it also carries workflow, activity and core logs. */
export function createLogger(options: { format: Config['worker']['logFormat']; level: Config['logLevel']; write?: LineWriter }): DefaultLogger {
  const write = options.write ?? ((line: string) => void process.stderr.write(line));
  const format = options.format === 'json' ? jsonLine : textLine;
  return new DefaultLogger(options.level.toUpperCase() as LogLevel, (entry) => write(format(entry)));
}

/**
 * `{"time":…,"level":"info","message":…, …meta}`: the SDK's meta (workflowId, runId, activityId,
 * activityType, taskQueue, sdkComponent, …) at the top level, errors as name/message/type/stack/cause.
 */
export function jsonLine(entry: LogEntry): string {
  const line: Record<string, unknown> = { time: isoTime(entry), level: entry.level.toLowerCase(), message: entry.message };
  for (const [key, value] of Object.entries(loggable(entry.meta ?? {}) as Record<string, unknown>)) {
    line[key in line ? `meta.${key}` : key] = value;
  }
  return `${JSON.stringify(line)}\n`;
}

/** `2026-03-01T02:00:00.123Z INFO  message { meta }` on one line. */
export function textLine(entry: LogEntry): string {
  const meta = entry.meta === undefined ? '' : ` ${inspect(loggable(entry.meta), { breakLength: Infinity, depth: 6, colors: false })}`;
  return `${isoTime(entry)} ${entry.level.padEnd(5)} ${entry.message}${meta}\n`;
}

function isoTime(entry: LogEntry): string {
  return new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
}

/** Keys whose values are secrets wherever they appear in log metadata. */
const SECRET_KEY = /^(password|pgpassword|apikey|api_key|authorization|secretaccesskey|aws_secret_access_key)$/i;

/** A JSON-safe copy of `value`: errors spelled out, bigints as strings, bytes as a length, secrets as ***, cycles cut. */
export function loggable(value: unknown, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (value instanceof Error) return errorFields(value, seen);
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
    if (value instanceof Uint8Array) return `<${value.byteLength} bytes>`;
    if (Array.isArray(value)) return value.map((v) => loggable(v, seen) ?? null);
    if (value instanceof Map) return loggable(Object.fromEntries(value), seen);
    if (value instanceof Set) return loggable([...value], seen);
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const safe = SECRET_KEY.test(key) && v !== undefined && v !== null ? '***' : loggable(v, seen);
      if (safe !== undefined) out[key] = safe;
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

function errorFields(err: Error, seen: WeakSet<object>): Record<string, unknown> {
  const extra = err as Error & { type?: unknown; nonRetryable?: unknown; code?: unknown; details?: unknown };
  const out: Record<string, unknown> = { name: err.name, message: err.message };
  if (typeof extra.type === 'string') out.type = extra.type;
  if (typeof extra.nonRetryable === 'boolean') out.nonRetryable = extra.nonRetryable;
  if (typeof extra.code === 'string' || typeof extra.code === 'number') out.code = extra.code;
  if (err.stack !== undefined) out.stack = err.stack;
  if (err.cause !== undefined) out.cause = loggable(err.cause, seen);
  return out;
}
