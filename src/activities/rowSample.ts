// Content hashes of a sample of each table's rows: verification records them from its restored
// copy, and a restore drill restores the stored copy later and compares (a count alone misses a
// file whose rows changed but not their number). Optional: a table whose sample cannot be computed
// is named with the reason, and only its count is checked; the backup does not fail over it.
import { Context } from '@temporalio/activity';
import type { ClientBase } from 'pg';
import type { RowSampleHash } from '../backup/manifest';
import { TABLES_SQL, tableKey } from './backup/inventory';
import { errorText, isQueryError } from './db';
import { compared, rowText, withColumnsSql, type ColumnRef } from './rowText';
import { every } from './stream';

/** Rows hashed per table. */
export const SAMPLE_ROWS = 200;

// Row text must not depend on the session: the same rows print the same everywhere.
const STABLE_OUTPUT = "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'";

/** Per table, its sample's hash; and the tables whose sample could not be computed, with why. */
export interface SampleResult {
  hashes: Record<string, RowSampleHash>;
  failures: Record<string, string>;
}

/**
 * Hashes the first SAMPLE_ROWS rows of every table by primary key (an index scan, cheap on large
 * tables; key columns whose type has no ordering are ordered by their text); a table without one is
 * sampled by the rows' own hashes (a full scan, like the count). A row's text lists its columns by
 * name, so a restore that reorders them hashes the same. Content decides the sample, not physical
 * order, so two restores of one file give the same hashes. `legacy`: tables to hash as backups made
 * before did (rows' text in column order), to compare with their recorded samples.
 */
export async function sampleHashes(client: ClientBase, options: { rows?: number; legacy?: Set<string> } = {}): Promise<SampleResult> {
  await client.query(STABLE_OUTPUT);
  const tables = await client.query<SampledTable>(withColumnsSql(TABLES_SQL));
  const result: SampleResult = { hashes: {}, failures: {} };
  // Hashing a large table without a primary key reads all of it: keep telling Temporal we are alive.
  const stop = every(5_000, () => heartbeat({ step: 'sample', tables_hashed: Object.keys(result.hashes).length, tables: tables.rows.length }));
  try {
    for (const t of tables.rows) {
      const key = tableKey(t.schema, t.name);
      try {
        result.hashes[key] = await hashTable(client, t, options.rows ?? SAMPLE_ROWS, options.legacy?.has(key) ?? false);
      } catch (err) {
        if (!isQueryError(err)) throw err;
        result.failures[key] = `${errorText(err)} (table ${t.schema}.${t.name})`;
      }
    }
  } finally {
    stop();
  }
  return result;
}

interface SampledTable {
  schema: string;
  name: string;
  quoted: string;
  columns: ColumnRef[];
  primary_key: string[];
}

async function hashTable(client: ClientBase, t: SampledTable, rows: number, legacy: boolean): Promise<RowSampleHash> {
  const order = t.primary_key.length > 0 ? ('primary_key' as const) : ('row_hash' as const);
  const text = legacy ? 't::text' : rowText(t.columns.map((c) => c.name), 't');
  const by = order === 'primary_key' ? t.primary_key.map((k) => compared('t', t.columns.find((c) => c.name === k)!)).join(', ') : `md5(${text})`;
  const { rows: out } = await client.query<{ n: string; digest: string | null }>(
    `SELECT count(*) AS n, md5(coalesce(string_agg(h, ',' ORDER BY i), '')) AS digest
     FROM (SELECT md5(${text}) AS h, row_number() OVER (ORDER BY ${by}) AS i FROM ${t.quoted} t ORDER BY ${by} LIMIT ${rows}) s`,
  );
  return { rows: Number(out[0]?.n ?? 0), md5: out[0]?.digest ?? '', order, ...(legacy ? {} : { rendering: 'by_name' as const }) };
}

function heartbeat(details: unknown): void {
  try {
    Context.current().heartbeat(details);
  } catch {
    // Not in an activity.
  }
}

/** Tables whose sample differs from the recorded one, with both hashes; tables with no recorded sample, or none now, are skipped. */
export function compareSamples(recorded: Record<string, RowSampleHash>, actual: Record<string, RowSampleHash>): Record<string, { expected: RowSampleHash; actual: RowSampleHash }> {
  const out: Record<string, { expected: RowSampleHash; actual: RowSampleHash }> = {};
  for (const [table, expected] of Object.entries(recorded)) {
    const got = actual[table];
    if (got !== undefined && (got.md5 !== expected.md5 || got.rows !== expected.rows)) out[table] = { expected, actual: got };
  }
  return out;
}

/** Tables whose recorded sample predates row text by column name (hashed as then, to compare). */
export function legacySamples(recorded: Record<string, RowSampleHash>): Set<string> {
  return new Set(Object.entries(recorded).filter(([, h]) => h.rendering === undefined).map(([t]) => t));
}
