// Content hashes of a sample of each table's rows: verification records them from its restored
// copy, and a restore drill restores the stored copy later and compares (a count alone misses a
// file whose rows changed but not their number).
import { Context } from '@temporalio/activity';
import type { ClientBase } from 'pg';
import type { RowSampleHash } from '../backup/manifest';
import { TABLES_SQL, tableKey } from './backup/inventory';
import { every } from './stream';

/** Rows hashed per table. */
export const SAMPLE_ROWS = 200;

// Row text must not depend on the session: the same rows print the same everywhere.
const STABLE_OUTPUT = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

/**
 * Hashes the first SAMPLE_ROWS rows of every table by primary key (an index scan, cheap on large
 * tables); a table without one is sampled by the rows' own hashes (a full scan, like the count).
 * Content decides the sample, not physical order, so two restores of one file give the same hashes.
 */
export async function sampleHashes(client: ClientBase, rows = SAMPLE_ROWS): Promise<Record<string, RowSampleHash>> {
  await client.query(STABLE_OUTPUT);
  const tables = await client.query<{ schema: string; name: string; quoted: string }>(TABLES_SQL);
  const hashes: Record<string, RowSampleHash> = {};
  // Hashing a large table without a primary key reads all of it: keep telling Temporal we are alive.
  const stop = every(5_000, () => heartbeat({ step: 'sample', tables_hashed: Object.keys(hashes).length, tables: tables.rows.length }));
  try {
    for (const t of tables.rows) await hashTable(client, t, rows, hashes);
  } finally {
    stop();
  }
  return hashes;
}

async function hashTable(client: ClientBase, t: { schema: string; name: string; quoted: string }, rows: number, hashes: Record<string, RowSampleHash>): Promise<void> {
  const pk = await client.query<{ col: string }>(
    `SELECT quote_ident(a.attname) AS col FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
    [t.quoted],
  );
  const order = pk.rows.length > 0 ? ('primary_key' as const) : ('row_hash' as const);
  const by = order === 'primary_key' ? pk.rows.map((r) => `t.${r.col}`).join(', ') : 'md5(t::text)';
  const { rows: out } = await client.query<{ n: string; digest: string | null }>(
    `SELECT count(*) AS n, md5(coalesce(string_agg(h, ',' ORDER BY i), '')) AS digest
     FROM (SELECT md5(t::text) AS h, row_number() OVER (ORDER BY ${by}) AS i FROM ${t.quoted} t ORDER BY ${by} LIMIT ${rows}) s`,
  );
  hashes[tableKey(t.schema, t.name)] = { rows: Number(out[0]?.n ?? 0), md5: out[0]?.digest ?? '', order };
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not in an activity.
  }
}

/** Tables whose sample differs from the recorded one, with both hashes; tables with no recorded sample are skipped. */
export function compareSamples(recorded: Record<string, RowSampleHash>, actual: Record<string, RowSampleHash>): Record<string, { expected: RowSampleHash; actual: RowSampleHash | null }> {
  const out: Record<string, { expected: RowSampleHash; actual: RowSampleHash | null }> = {};
  for (const [table, expected] of Object.entries(recorded)) {
    const got = actual[table] ?? null;
    if (got === null || got.md5 !== expected.md5 || got.rows !== expected.rows) out[table] = { expected, actual: got };
  }
  return out;
}
