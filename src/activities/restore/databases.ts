import path from 'node:path';
import { Context } from '@temporalio/activity';
import { escapeIdentifier as quote, type Client } from 'pg';
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { countRows, listExtensions } from '../backup/inventory';
import { connect, withClient } from '../db';
import { databaseUnreachable } from '../failures';
import { pausePoint } from '../pausePoint';
import { restoreFileInto } from '../restoreFile';
import type { CreatedRole } from '../../backup/createdRoles';
import { createRestoreRoles } from '../roles';
import type { PreparedRestore } from './prepare';
import { databaseInUse, endSessions, lockTimedOut } from './sessions';

/** Per-table comparison of expected and actual row counts. */
export interface TableCheck {
  tables: Record<string, { expected: number | null; actual: number | null }>;
  missing_extensions: string[];
  ok: boolean;
  /** After a swap: whether the live database is the copy that was checked beside it (its OID); counts that differ then are writes made since the swap. */
  identity?: { restored_oid: number; live_oid: number | null };
}

/** Compares counts; with no expectation (a Windmill-era backup) it records what it found. */
export function compareCounts(expected: Record<string, number> | null, actual: Record<string, number>, missingExtensions: string[] = []): TableCheck {
  const tables: TableCheck['tables'] = {};
  const names = new Set([...Object.keys(expected ?? {}), ...Object.keys(actual)]);
  for (const t of [...names].sort()) tables[t] = { expected: expected === null ? null : (expected[t] ?? null), actual: actual[t] ?? null };
  const ok = missingExtensions.length === 0 && (expected === null || Object.values(tables).every((c) => c.expected === c.actual));
  return { tables, missing_extensions: missingExtensions, ok };
}


async function maintenance(config: Config): Promise<Client> {
  return connect(config.database, config.database.maintenanceDatabase).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
}

async function exists(client: Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  return rowCount === 1;
}

/** Counts and extension check of one database (on the server of `config.database`). */
export async function checkDatabase(config: Config, database: string, expected: Record<string, number> | null, extensions: string[]): Promise<TableCheck> {
  return withClient(
    config.database,
    async (c) => {
      const counts = await countRows(c);
      const have = new Set((await listExtensions(c)).map((e) => e.name));
      return compareCounts(expected, counts, extensions.filter((e) => !have.has(e)));
    },
    database,
  );
}

/**
 * Restores the backup into a new database `target` on the same server and checks it against the
 * dump-time counts; the live database is not touched. A target left by an earlier attempt is
 * replaced. Without the right to create databases: CannotCreateDatabase (the workflow then
 * restores in place). A restore that does not match: RestoreVerificationFailed, target dropped.
 */
export async function restoreIntoNewDatabase(config: Config, prepared: PreparedRestore, target: string): Promise<{ check: TableCheck; roles_created: string[]; roles: CreatedRole[] }> {
  const client = await maintenance(config);
  let roles: CreatedRole[];
  try {
    // The roles recorded with the backup come back as they were (unless recreate_roles: false); any other missing one NOLOGIN; none with create_roles false.
    roles = await createRestoreRoles(config, client, prepared);
    await client.query(`DROP DATABASE IF EXISTS ${quote(target)} WITH (FORCE)`);
    try {
      await client.query(`CREATE DATABASE ${quote(target)} TEMPLATE template0`);
    } catch (err) {
      if ((err as { code?: string }).code === '42501') {
        throw permanent(ErrorType.CannotCreateDatabase, `${config.database.user} may not create databases, so the backup cannot be restored beside the live one`, err);
      }
      throw err;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  try {
    await restoreFileInto(config, target, source(config, prepared), { step: 'restore', failureType: ErrorType.RestoreFailed, target: 'beside' });
    const result = await checkDatabase(config, target, prepared.table_details, prepared.extensions);
    if (!result.ok) {
      const bad = Object.entries(result.tables).filter(([, c]) => c.expected !== c.actual).map(([t, c]) => `${t} (expected ${c.expected}, restored ${c.actual})`);
      throw permanent(ErrorType.RestoreVerificationFailed, `the restored copy of "${prepared.filename}" does not match its manifest: ${[...bad, ...result.missing_extensions.map((e) => `extension ${e} missing`)].join(', ')}; the live database was not touched`, undefined, result);
    }
    return { check: result, roles_created: roles.map((r) => r.name), roles };
  } catch (err) {
    await dropDatabase(config, target);
    throw err;
  }
}

/** Drops a database (if it exists), terminating its connections. */
export async function dropDatabase(config: Config, name: string): Promise<void> {
  const client = await maintenance(config);
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quote(name)} WITH (FORCE)`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Renames `live` to `aside` and `incoming` to `live` in one transaction, after ending the sessions
 * on both. Nothing is committed before the renames: a process killed at any instant leaves either
 * the old state or the new one, both taking connections (while the transaction is open, the
 * renamed databases' lock holds new connections back; they then fail once or reach the new one). Afterwards the old database, now `to`, is counted: those
 * are the rows a rollback must bring back. Idempotent: when the swap already happened, it only counts.
 */
export async function swapDatabases(config: Config, names: { live: string; incoming: string; aside: string | null }): Promise<{ aside_counts: Record<string, number> | null; live_oid?: number | null }> {
  if (names.aside === null) return { ...(await renameIn(config, { live: names.live, incoming: names.incoming })), live_oid: await liveOid(config) };
  const aside = names.aside;
  const client = await maintenance(config);
  try {
    const done = (await exists(client, aside)) && !(await exists(client, names.incoming));
    if (!done) {
      await renameBoth(client, [names.live, names.incoming], [
        [names.live, aside],
        [names.incoming, names.live],
      ], 'swap');
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  const counts = await withClient(config.database, (c) => countRows(c), aside);
  return { aside_counts: counts, live_oid: await liveOid(config) };
}

/** The OID of the database under the live name (null: none): a rename keeps it, so it names the copy that was checked. */
async function liveOid(config: Config): Promise<number | null> {
  const client = await maintenance(config);
  try {
    const { rows } = await client.query<{ oid: number }>('SELECT oid::int AS oid FROM pg_database WHERE datname = $1', [config.database.database]);
    return rows[0]?.oid ?? null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The swap on a server where the live database does not exist yet (disaster recovery onto a new
 * server): `incoming` is renamed to the live name, with nothing to set aside. Idempotent; refuses,
 * changing nothing, if a database of the live name appeared meanwhile.
 */
async function renameIn(config: Config, names: { live: string; incoming: string }): Promise<{ aside_counts: null }> {
  const client = await maintenance(config);
  try {
    const incoming = await exists(client, names.incoming);
    if (!incoming && (await exists(client, names.live))) return { aside_counts: null };
    if (await exists(client, names.live)) {
      throw permanent(ErrorType.RestoreFailed, `database "${names.live}" appeared on the server while the restore created it; nothing was swapped (the restored copy is ${names.incoming}); run the restore again to swap it in`);
    }
    await renameBoth(client, [names.incoming], [[names.incoming, names.live]], 'swap');
    return { aside_counts: null };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Ends connections to `busy` and runs the renames in one transaction, retrying if someone slips in.
 * The same transaction lets connections into every renamed database again: versions before 0.2
 * committed ALLOW_CONNECTIONS false before their renames, and a kill there left it so.
 */
async function renameBoth(client: Client, busy: string[], renames: [string, string][], point: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY($1) AND pid <> pg_backend_pid()', [busy]);
    try {
      await client.query('BEGIN');
      for (const [from, to] of renames) await client.query(`ALTER DATABASE ${quote(from)} RENAME TO ${quote(to)}`);
      for (const [, to] of renames) await client.query(`ALTER DATABASE ${quote(to)} WITH ALLOW_CONNECTIONS true`);
      await pausePoint(point);
      await client.query('COMMIT');
      return;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if ((err as { code?: string }).code !== '55006' || attempt >= 10) {
        throw transient(ErrorType.RestoreFailed, `could not rename the databases: ${(err as Error).message}`, err);
      }
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

/**
 * Step 5: the live database, after the swap or in-place restore, holds what the backup holds. After
 * a swap (`swapped`: the OID swapDatabases found under the live name) the copy's rows were checked
 * beside it, while nothing else could write to it; the application writes to the live database the
 * moment it is swapped in, so the check is that the live database is that copy (same OID) and has
 * its extensions, and the counts are recorded (a difference is the application's writes since).
 */
export async function verifyLiveDatabase(config: Config, expected: Record<string, number> | null, extensions: string[], swapped?: { restored_oid: number }): Promise<TableCheck> {
  const check = await checkDatabase(config, config.database.database, expected, extensions);
  if (swapped === undefined) return check;
  const live = await liveOid(config);
  return { ...check, identity: { restored_oid: swapped.restored_oid, live_oid: live }, ok: live === swapped.restored_oid && check.missing_extensions.length === 0 };
}

/**
 * Puts the previous database back after a failure at or after the swap: the restored one is
 * renamed to `failed` (kept for inspection), `aside` back to the live name; then checks the live
 * database holds the rows it had at the swap (`expected`; when the swap's counts never arrived,
 * those of the database set aside, counted before it is renamed back). If the swap never
 * happened, the unused copy is dropped and the counts are only recorded. Idempotent.
 */
export async function rollbackSwap(
  config: Config,
  names: { live: string; aside: string | null; failed: string; incoming: string },
  expected: Record<string, number> | null,
): Promise<TableCheck & { swapped_back: boolean }> {
  const client = await maintenance(config);
  let swappedBack = false;
  try {
    if (names.aside === null) {
      // A database the restore created where there was none: renamed away (kept for inspection), nothing to put back.
      if (!(await exists(client, names.incoming)) && (await exists(client, names.live))) {
        await renameBoth(client, [names.live], [[names.live, names.failed]], 'rollback');
        swappedBack = true;
      }
      await client.query(`DROP DATABASE IF EXISTS ${quote(names.incoming)} WITH (FORCE)`);
      return { ...compareCounts(null, {}), swapped_back: swappedBack };
    }
    if (!(await exists(client, names.aside))) {
      await client.query(`DROP DATABASE IF EXISTS ${quote(names.incoming)} WITH (FORCE)`);
    } else {
      // Without the counts taken at the swap (cancelled after it committed), the database set aside is counted now: the check after renaming it back can then fail.
      expected ??= await withClient(config.database, (c) => countRows(c), names.aside);
      await renameBoth(client, [names.live, names.aside], [
        [names.live, names.failed],
        [names.aside, names.live],
      ], 'rollback');
      swappedBack = true;
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return { ...(await checkDatabase(config, names.live, expected, [])), swapped_back: swappedBack };
}

/**
 * Restores in place, for servers where we may not create databases: the database is emptied
 * (IN_PLACE_PREAMBLE) and the backup replayed in ONE transaction, so a failure leaves the live
 * database as it was. Used for the restore itself and to roll back to the pre-restore backup.
 * Other sessions on the database are ended first (those this role may end); a lock still held
 * by one fails the transaction after RESTORE_LOCK_TIMEOUT_SECONDS, and after IN_PLACE_LOCK_WAITS
 * such waits the restore gives up with DatabaseInUse, naming the sessions, nothing changed.
 */
export async function restoreInPlace(config: Config, prepared: PreparedRestore, step: 'restore' | 'rollback'): Promise<void> {
  const live = config.database.database;
  for (let wait = 1; ; wait++) {
    // As the swap does: the application's sessions are ended first, and the restore's lock_timeout bounds the wait for one that comes back.
    const kept = await endSessions(config, live);
    try {
      await restoreFileInto(config, live, source(config, prepared), { step, failureType: ErrorType.RestoreFailed, target: 'in_place' });
      return;
    } catch (err) {
      if (!lockTimedOut(err)) throw err;
      if (wait >= IN_PLACE_LOCK_WAITS) throw databaseInUse(config, step, kept, wait, err);
      Context.current().heartbeat({ step, waited_for_locks: wait });
    }
  }
}

/** How many times an in-place restore waits RESTORE_LOCK_TIMEOUT_SECONDS for its locks, ending the sessions it may before each. */
const IN_PLACE_LOCK_WAITS = 3;

function source(config: Config, prepared: PreparedRestore) {
  return { filename: prepared.filename, file: path.join(config.backup.dir, prepared.filename), format: prepared.format, sha256: prepared.sha256 };
}
