// The one place that decides where a scratch database is made (VERIFY_TARGET): the worker's own
// server, a server the user runs, or the database server itself; and readies it for a backup.
import { Context } from '@temporalio/activity';
import type { Config, DatabaseConfig } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { ident } from '../../partial/catalog';
import { serverMajorOf } from '../clientTools';
import { withClient } from '../db';
import { databaseUnreachable } from '../failures';
import { MissingPostgresError } from './install';
import { ensureLocalServer } from './server';

/** Where scratch databases go for one activity: `config` with its database the scratch server's maintenance database. */
export interface ScratchServer {
  /** The caller's config with `database` pointing at the scratch server (BACKUP_DIR and the rest unchanged). */
  config: Config;
  where: 'worker' | 'server' | 'source';
  /** For messages: which server this is. */
  label: string;
  /** Ends this use (the worker's own server may then stop once idle). */
  release(): void;
}

/** What a backup needs of the server it is restored into: its extensions and the roles it names. */
export interface ScratchNeeds {
  /** The backup, for messages. */
  filename: string;
  extensions: string[];
  roles: string[];
}

/**
 * The server to make `needs.filename`'s scratch database on, per VERIFY_TARGET, readied: the roles
 * the backup names exist there (created NOLOGIN, on a server other than the source) and every
 * extension it needs is available; otherwise a non-retryable VerifyServerLacksExtensions naming
 * them, or with VERIFY_FALLBACK=source the source itself.
 */
export async function openScratchServer(config: Config, needsOf: ScratchNeeds | (() => Promise<ScratchNeeds>)): Promise<ScratchServer> {
  const verify = config.verify;
  if (verify === undefined || verify.target === 'source') return onSource(config);
  const needs = typeof needsOf === 'function' ? await needsOf() : needsOf;
  const { db, label, release } = verify.target === 'server' ? { db: verify.server!, label: `the verification server at ${verify.server!.host}:${verify.server!.port} (VERIFY_TARGET)`, release: () => undefined } : await workerServer(config);
  const scratch: Config = { ...config, database: { ...db, database: db.maintenanceDatabase } };
  try {
    const missing = await withClient(scratch.database, (c) => unavailableExtensions(c, needs.extensions)).catch((err: unknown) => {
      throw transient(ErrorType.VerifyServerUnavailable, `${label} does not answer (${(err as Error).message}); the step is retried; check it, or set VERIFY_TARGET=source`, err);
    });
    if (verify.target === 'server') await requireMajorAtLeast(config, scratch, label);
    if (missing.length > 0) {
      const what = `${label} lacks the extension${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that backup "${needs.filename}" needs`;
      if (verify.fallback === 'source') {
        Context.current().log.warn(`${what}; restoring it on the database server instead (VERIFY_FALLBACK=source)`);
        release();
        return onSource(config);
      }
      throw permanent(
        ErrorType.VerifyServerLacksExtensions,
        `${what}, so it cannot be restored there to verify it; install ${missing.join(', ')} for that PostgreSQL (pgvector: bash scripts/install-deps.sh), ` +
          'or set VERIFY_FALLBACK=source to restore on the database server itself when this happens (that needs CREATEDB and the right to create those extensions there); nothing was restored',
      );
    }
    await withClient(scratch.database, (c) => createMissingRoles(c, needs.roles));
  } catch (err) {
    release();
    throw err;
  }
  return { config: scratch, where: verify.target, label, release };
}

function onSource(config: Config): ScratchServer {
  return { config, where: 'source', label: `the database server at ${config.database.host}:${config.database.port}`, release: () => undefined };
}

/** The worker's own server of the source's major, started if need be. */
async function workerServer(config: Config): Promise<{ db: DatabaseConfig; label: string; release: () => void }> {
  const verify = config.verify!;
  const major = await serverMajorOf(config.database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    const lease = await ensureLocalServer({ dir: verify.serverDir, major, idleMs: verify.idleMs });
    return { db: lease.database, label: `the worker's verification server (PostgreSQL ${major} in ${lease.paths.root})`, release: lease.release };
  } catch (err) {
    if (err instanceof MissingPostgresError) {
      throw permanent(ErrorType.VerifyServerUnavailable, `the worker cannot run a verification server of the database's PostgreSQL ${major}: ${err.message}; or set VERIFY_TARGET=source (or a postgres:// URL of a server for it)`, err);
    }
    throw transient(ErrorType.VerifyServerUnavailable, `the worker's verification server (PostgreSQL ${major} in ${verify.serverDir}) cannot be started: ${(err as Error).message}; the step is retried; if it keeps failing, remove ${verify.serverDir}/pg${major} (it holds nothing but scratch data) or set VERIFY_SERVER_DIR elsewhere`, err);
  }
}

/** A user's verification server older than the source cannot restore its dumps: a non-retryable VerifyServerUnavailable. */
async function requireMajorAtLeast(config: Config, scratch: Config, label: string): Promise<void> {
  const [source, there] = await Promise.all([serverMajorOf(config.database), serverMajorOf(scratch.database)]);
  if (there < source) {
    throw permanent(ErrorType.VerifyServerUnavailable, `${label} runs PostgreSQL ${there}, older than the database's ${source}: a dump restores onto its own major or a newer one; run a PostgreSQL ${source} or newer for it, or set VERIFY_TARGET=worker; nothing was restored`);
  }
}

/** The extensions of `wanted` this server cannot create. */
async function unavailableExtensions(c: { query: DatabaseClientQuery }, wanted: string[]): Promise<string[]> {
  if (wanted.length === 0) return [];
  const { rows } = await c.query<{ name: string }>('SELECT name FROM pg_available_extensions WHERE name = ANY($1)', [wanted]);
  const have = new Set(rows.map((r) => r.name));
  return wanted.filter((e) => !have.has(e)).sort();
}

/** Creates the roles of `roles` this server lacks, NOLOGIN: ownership and grants in the dump then restore. Two activities creating one at once is fine. */
async function createMissingRoles(c: { query: DatabaseClientQuery }, roles: string[]): Promise<void> {
  if (roles.length === 0) return;
  const { rows } = await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [roles]);
  const have = new Set(rows.map((r) => r.rolname));
  for (const role of roles.filter((r) => !have.has(r))) {
    await c.query(`CREATE ROLE ${ident(role)} NOLOGIN`).catch((err: unknown) => {
      // 42710: created meanwhile by another activity; 23505: the same race caught by the catalog's unique index.
      const code = (err as { code?: string }).code;
      if (code !== '42710' && code !== '23505') throw err;
    });
  }
}

type DatabaseClientQuery = <R extends object>(text: string, values?: unknown[]) => Promise<{ rows: R[] }>;
