import pg from 'pg';
import type { DatabaseConfig } from '../config';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType, transient } from '../errors';

/**
 * Opens a pg client to `database` (default: the configured one); the caller ends it. The client
 * has an 'error' listener: a server that goes away, or ends the session (an idle or statement
 * timeout, an administrator), fails the client's queries instead of crashing the process with an
 * unhandled 'error' event (which on a worker would take every running activity with it).
 */
export async function connect(db: DatabaseConfig, database: string = db.database, timeoutMs = 10_000): Promise<pg.Client> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database,
    connectionTimeoutMillis: timeoutMs,
    application_name: 'family-brain-backup',
    ...(db.sslmode === undefined || db.sslmode === 'disable' ? {} : { ssl: { rejectUnauthorized: db.sslmode === 'verify-full' || db.sslmode === 'verify-ca' } }),
  });
  client.on('error', (err) => {
    lostWith.set(client, err);
  });
  try {
    await client.connect();
    // Our sessions wait on long restores, counts and locks held by pg_dump: a statement or idle-in-transaction
    // timeout set for the role or the database (ALTER ROLE ... SET) must not end them half-way.
    await client.query(SESSION_TIMEOUTS_SQL);
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** What every session of ours sets first, whatever the role's or database's defaults. */
export const SESSION_TIMEOUTS_SQL = 'SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0';

/** The same for sessions of psql and pg_restore, as PGOPTIONS (a client setting outranks ALTER ROLE/DATABASE ... SET). */
export const SESSION_TIMEOUTS_OPTIONS = ['-c statement_timeout=0', '-c idle_in_transaction_session_timeout=0'];

/**
 * What psql, pg_dump or pg_restore print when the server ended their session or went away (not an
 * error in what they ran), or was not there when they connected: refused, or restarting (found by
 * the soak: a psql started during a crash restart said "Connection refused", and that was judged as
 * the backup not restoring).
 */
export const LOST_IN_OUTPUT =
  /server closed the connection unexpectedly|terminating connection|connection to server was lost|could not receive data from server|SSL SYSCALL error|connection to server .* failed: (Connection refused|FATAL: +the database system is (starting up|shutting down|in recovery mode|not yet accepting connections))/i;

const lostWith = new WeakMap<pg.Client, Error>();

/** The error that ended `client`'s connection behind its back, if one did. */
export function connectionError(client: pg.Client): Error | undefined {
  return lostWith.get(client);
}

/** Runs `fn` with a connected client and always closes it; a connection lost meanwhile is a DatabaseConnectionLost. */
export async function withClient<T>(db: DatabaseConfig, fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const client = await connect(db, database);
  try {
    return await fn(client);
  } catch (err) {
    throw isConnectionLoss(err) ? connectionLost(err, db, database) : err;
  } finally {
    await client.end().catch(() => undefined);
  }
}

// Server-side ends of a session: admin_shutdown, crash_shutdown, idle_in_transaction_session_timeout,
// idle_session_timeout, connection_failure, connection_does_not_exist; and the socket's own errors.
const LOST_CODES = new Set(['57P01', '57P02', '25P03', '57P05', '08006', '08003', '08000', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
const LOST_MESSAGES = /Connection terminated|is not queryable|server closed the connection unexpectedly|terminating connection/i;

/** Is `err` an established connection lost (not a refused or failed connection attempt)? */
export function isConnectionLoss(err: unknown): boolean {
  const e = err as { code?: string; message?: string; type?: string } | undefined;
  if (e === undefined || e === null || e.type !== undefined) return false;
  return (e.code !== undefined && LOST_CODES.has(e.code)) || LOST_MESSAGES.test(e.message ?? '');
}

/** A lost connection as a retryable DatabaseConnectionLost naming the server and why. */
export function connectionLost(err: unknown, db: DatabaseConfig, database: string = db.database, during?: string): Error {
  const e = err as { code?: string; message?: string };
  const why =
    e.code === '25P03'
      ? `the server ended the session after idle_in_transaction_session_timeout`
      : e.code === '57P01' || e.code === '57P02'
        ? `the server is shutting down or restarting (${e.message ?? e.code})`
        : (e.message ?? String(err));
  return transient(
    ErrorType.DatabaseConnectionLost,
    `lost the connection to database "${database}" at ${db.host}:${db.port}${during ? ` while ${during}` : ''}: ${why}; the step is retried, nothing half-made is kept; ` +
      `if it keeps happening, check the server's log and run "fbb doctor"`,
    err,
  );
}

/** An error the server raised about a query (it would raise it again: a type without an operator, a missing privilege), not a lost connection. */
export function isQueryError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  // A SQLSTATE (five characters; no class starts with E, which Node's socket errors such as EPIPE do).
  return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code) && !code.startsWith('08') && !code.startsWith('57P') && !isConnectionLoss(err);
}

/** "DatabaseError: <message>": an error's class and message, as Temporal reports an activity's failure. */
export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
}

// SQLSTATE classes a retry cannot change: data exceptions, unsupported features, syntax and access rules
// (no such operator for a type, permission denied).
const DETERMINISTIC_CLASSES = new Set(['22', '0A', '42']);

/**
 * A query error about `table` as the failure the user sees: its class name and message, with the table
 * named ("DatabaseError: could not identify an ordering operator for type box (table public.x)"),
 * non-retryable when the server would raise it again; any other error unchanged.
 */
export function tableFailure(err: unknown, table: string): unknown {
  if (!isQueryError(err)) return err;
  const code = (err as { code: string }).code;
  return ApplicationFailure.create({ type: (err as Error).constructor.name, message: `${(err as Error).message} (table ${table})`, nonRetryable: DETERMINISTIC_CLASSES.has(code.slice(0, 2)), cause: err as Error });
}
