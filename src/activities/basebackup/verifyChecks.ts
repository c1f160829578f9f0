// The checks of a base backup recovered on a scratch cluster (verify.ts brings it up): it reached a
// consistent state, pg_amcheck finds no corruption in the backed-up database, and every table holds
// the rows counted at the backup.
//
// Why the row counts compare exactly. The counts were taken right after the backup ended, in one
// REPEATABLE READ snapshot S, while the database may have been written (take.ts); in the statement
// that took S the WAL insert position L was read. A transaction S sees had ended, so its commit record
// was written before L; verify.ts recovers to just before the first record at or after L, so every
// transaction S sees is committed on the scratch cluster. The state there equals S unless a
// transaction S does not see (in S's in-progress list, or started after S: XID >= S's xmax) had
// written its commit record before L too (it was between its commit record and its end when S was
// taken). That is checked on the scratch cluster itself: pg_xact_status of each such XID. None
// committed: the state is exactly S and a differing count is a damaged backup. Some committed: the
// counts cannot be compared exactly and are not compared (the result says so, with the XIDs), never
// a false failure, never a pass they cannot prove.
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import pg from 'pg';
import { lastLines } from '../../format';
import type { BaseBackupManifest, BaseBackupVerification } from '../../basebackup/manifest';
import { ErrorType, permanent } from '../../errors';
import { countRows } from '../backup/inventory';
import { pausePoint } from '../pausePoint';
import path from 'node:path';
import type { UpServer } from './recoveryRun';

const CONSISTENT = /consistent recovery state reached at ([0-9A-F]+\/[0-9A-F]+)/;
const STOPPED = /recovery stopping before WAL location \(LSN\) "([0-9A-F]+\/[0-9A-F]+)"/;
/** More XIDs than this between the counting snapshot and the scratch cluster's next XID are not looked at one by one. */
const MAX_XIDS_CHECKED = 1_000_000;

type Checks = BaseBackupVerification['checks'];

/** Runs every check against the recovered, promoted server; BaseBackupVerificationFailed naming what failed. */
export async function checkRecovered(input: { server: UpServer; binDir: string; manifest: BaseBackupManifest; user: string }): Promise<Checks> {
  await pausePoint('basebackup verify up');
  const { server, manifest: m } = input;
  const consistent = CONSISTENT.exec(server.log)?.[1];
  if (consistent === undefined) fail(m, `recovery never reported a consistent state (PostgreSQL's log says: ${lastLines(server.log, 3)})`);
  const superuser = await query<{ rolname: string }>(input, 'postgres', 'SELECT rolname FROM pg_roles WHERE oid = 10').then((r) => r[0]!.rolname);
  const conn = { ...input, user: superuser };
  // Before anything on the scratch cluster assigns an XID (pg_amcheck's CREATE EXTENSION does).
  const inexact = await whyNotExact(conn, m);
  await amcheck(conn, m);
  return {
    consistency: { consistent_at: consistent, recovered_to_lsn: STOPPED.exec(server.log)?.[1] ?? m.counts_at?.lsn ?? m.end_lsn },
    amcheck: { database: m.database, problems: 0 },
    row_counts: inexact === undefined ? await compareCounts(conn, m) : { exact: false, tables_compared: 0, tables_skipped: [], note: inexact },
  };
}

function fail(m: BaseBackupManifest, what: string): never {
  throw permanent(ErrorType.BaseBackupVerificationFailed, `base backup "${m.filename}" failed verification: ${what}`);
}

type Conn = { server: UpServer; binDir: string; user: string };

async function query<R extends object>(conn: Conn, database: string, sql: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ host: conn.server.socketDir, port: conn.server.port, user: conn.user, database, connectionTimeoutMillis: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, values)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** pg_amcheck on the heap (with TOAST) and btree indexes of the backed-up database; exit 2 is corruption found. */
async function amcheck(conn: Conn, m: BaseBackupManifest): Promise<void> {
  const args = ['-h', conn.server.socketDir, '-p', String(conn.server.port), '-U', conn.user, '--install-missing', '--no-password', m.database];
  const run = await execa(path.join(conn.binDir, 'pg_amcheck'), args, { reject: false, stdin: 'ignore', extendEnv: false, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cancelSignal: Context.current().cancellationSignal });
  if (run.exitCode === 0) return;
  const said = [run.stdout, run.stderr].filter((t) => t.trim() !== '').join('\n').split('\n').filter((l) => l.trim() !== '').slice(0, 6).map((l) => l.trim()).join(' | ');
  if (run.exitCode === 2) fail(m, `pg_amcheck found corruption in database ${m.database}: ${said}`);
  throw permanent(ErrorType.VerifyServerUnavailable, `pg_amcheck could not check the recovered base backup "${m.filename}" (exit ${String(run.exitCode)}: ${said}); install PostgreSQL's contrib modules (amcheck) for that major on the worker; the base backup was not uploaded`);
}

/** Why the recovered state may differ from the counting snapshot (see the top of this file); undefined when it provably equals it. */
async function whyNotExact(conn: Conn, m: BaseBackupManifest): Promise<string | undefined> {
  if (m.counts_at === undefined) return 'the manifest records no counting snapshot (taken by an older fbb); counts not compared';
  const span = await query<{ n: string }>(conn, m.database, 'SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric - pg_snapshot_xmax($1::pg_snapshot)::text::numeric AS n', [m.counts_at.snapshot]);
  if (Number(span[0]!.n) > MAX_XIDS_CHECKED) return `${span[0]!.n} XIDs were assigned between the counting snapshot and its WAL position; counts not compared`;
  const concurrent = await query<{ x: string }>(
    conn,
    m.database,
    `WITH s AS (SELECT $1::pg_snapshot AS snap, pg_snapshot_xmax(pg_current_snapshot()) AS next)
     SELECT x::text FROM s, pg_snapshot_xip(s.snap) x WHERE x < s.next AND pg_xact_status(x) = 'committed'
     UNION ALL
     SELECT g::text FROM s, generate_series(pg_snapshot_xmax(s.snap)::text::numeric, s.next::text::numeric - 1) g WHERE pg_xact_status(g::text::xid8) = 'committed'`,
    [m.counts_at.snapshot],
  );
  if (concurrent.length === 0) return undefined;
  const xids = concurrent.map((r) => r.x).slice(0, 5).join(', ');
  return `${concurrent.length} transaction(s) (XID ${xids}${concurrent.length > 5 ? ', …' : ''}) wrote their commit record before the counting position but were not in the counting snapshot; the recovered state is not exactly the counted one, so counts were not compared`;
}

/** Every table's row count on the scratch cluster against table_details (the recovered state is the counting snapshot). */
async function compareCounts(conn: Conn, m: BaseBackupManifest): Promise<Checks['row_counts']> {
  const client = new pg.Client({ host: conn.server.socketDir, port: conn.server.port, user: conn.user, database: m.database, connectionTimeoutMillis: 30_000 });
  client.on('error', () => undefined);
  await client.connect();
  let got: Record<string, number>;
  let unlogged: string[];
  try {
    got = await countRows(client).catch((err: unknown) => fail(m, `counting the rows of the recovered database failed: ${(err as Error).message}`));
    const { rows } = await client.query<{ key: string }>("SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END AS key FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND c.relpersistence = 'u'");
    unlogged = rows.map((r) => r.key);
  } finally {
    await client.end().catch(() => undefined);
  }
  // An unlogged table's rows are not in a base backup: it is empty after recovery, by design.
  const skipped = unlogged.filter((t) => t in m.table_details || t in got).sort();
  const tables = [...new Set([...Object.keys(m.table_details), ...Object.keys(got)])].filter((t) => !skipped.includes(t)).sort();
  const wrong = tables.filter((t) => m.table_details[t] !== got[t]);
  if (wrong.length > 0) {
    const shown = wrong.slice(0, 5).map((t) => `${t}: ${m.table_details[t] === undefined ? 'not counted at the backup' : `${m.table_details[t]} rows counted at the backup`}, ${got[t] === undefined ? 'missing' : `${got[t]} recovered`}`);
    fail(m, `row counts differ from those taken at the backup (in the same snapshot as the recovered state) in ${wrong.length} table(s): ${shown.join('; ')}${wrong.length > 5 ? '; …' : ''}`);
  }
  return { exact: true, tables_compared: tables.length, tables_skipped: skipped };
}
