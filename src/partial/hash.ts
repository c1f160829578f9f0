// Content hashes of rows, independent of their order: what "the tenant's rows equal the backup's" means.
import type { ClientBase } from 'pg';
import { byName, equal, rowText } from '../activities/rowText';
import { column, type TableInfo } from './catalog';
import { literal, type Scope } from './scope';

/** Session settings under which a row's text is the same on every connection (dates, floats, intervals, bytes). */
export const STABLE_TEXT = "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; SET extra_float_digits = 1; SET IntervalStyle = 'postgres'; SET bytea_output = 'hex'";

/** The columns a restore writes, by name (generated ones are derived, so neither copied nor compared; the order is the backup's and the live table's alike, whatever their column order). */
export function dataColumns(t: TableInfo): string[] {
  return byName(t.columns.filter((c) => !c.generated).map((c) => c.name));
}

/** SQL: md5 of a row's text over its data columns, by name (every type has a text). */
export function rowHash(t: TableInfo, alias: string): string {
  return `md5(${rowText(dataColumns(t), alias)})`;
}

/** SQL: the staged row `s` is the live row `t` by key columns (through their text where their type cannot be compared). */
export function sameKey(t: TableInfo, key: string[], stage: string, live: string): string {
  return equal(key.map((c) => ({ left: column(t, c), right: column(t, c) })), stage, live);
}

/** SQL aggregate over row hashes `h`: count and an order-independent md5. */
export const HASH_AGG = `count(*)::bigint AS n, coalesce(md5(string_agg(h, '' ORDER BY h)), md5('')) AS hash`;

/** Count and content hash of the scope's rows of one table in the database `client` is on. */
export async function scopeHash(client: ClientBase, scope: Scope, t: TableInfo): Promise<string> {
  const { rows } = await client.query<{ n: string; hash: string }>(`SELECT ${HASH_AGG} FROM (SELECT ${rowHash(t, 't')} AS h FROM ${t.id} t WHERE ${scope.where(t.id, 't')}) x`);
  return `${rows[0]!.n} rows, ${rows[0]!.hash}`;
}

/**
 * Per table and tenant: "count rows, md5" of every tenant's rows (a tenant scope's tables), and of
 * each guarded table whole; `except` leaves one tenant out. Keys are "public.users tenant <id>".
 */
export async function ownerHashes(client: ClientBase, scope: Scope, except?: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const { table: t } of scope.ownerOf ? scope.tables : []) {
    const { rows } = await client.query<{ owner: string | null; n: string; hash: string }>(
      `SELECT owner, ${HASH_AGG} FROM (SELECT ${scope.ownerOf!(t.id, 't')} AS owner, ${rowHash(t, 't')} AS h FROM ${t.id} t) x
       ${except === undefined ? '' : `WHERE owner IS DISTINCT FROM ${literal(except)}`} GROUP BY owner`,
    );
    for (const r of rows) out[`${t.name} tenant ${r.owner ?? '(none)'}`] = `${r.n} rows, ${r.hash}`;
  }
  for (const t of scope.guarded) {
    const { rows } = await client.query<{ n: string; hash: string }>(`SELECT ${HASH_AGG} FROM (SELECT ${rowHash(t, 't')} AS h FROM ${t.id} t) x`);
    out[`${t.name} (all rows)`] = `${rows[0]!.n} rows, ${rows[0]!.hash}`;
  }
  return out;
}

/** The entries of two hash maps that differ, as "key: before → after". */
export function hashChanges(before: Record<string, string>, after: Record<string, string>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.filter((k) => before[k] !== after[k]).map((k) => `${k}: ${before[k] ?? 'none'} → ${after[k] ?? 'none'}`);
}
