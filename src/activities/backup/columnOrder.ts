// pg_dump recreates an inheritance child with its parents' columns first, then its own: a child
// whose parent gained a column after it was created comes back with its columns in another order
// (plain and custom format alike; docs/operations.md). Found at backup time, from the catalog.
import type { ClientBase } from 'pg';
import type { ColumnOrderChange } from '../../backup/manifest';
import { tableKey } from './inventory';

// Every table that can inherit or be inherited from (partitions keep their own column list in a dump).
const TABLES_SQL = `
SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name,
  coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}') AS columns,
  coalesce((SELECT array_agg(i.inhparent::int ORDER BY i.inhseqno) FROM pg_inherits i WHERE i.inhrelid = c.oid), '{}') AS parents
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'f') AND NOT c.relispartition AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`;

interface Row {
  oid: number;
  schema: string;
  name: string;
  columns: string[];
  parents: number[];
}

/** Tables whose column order a restore of a dump would change, with both orders. */
export async function columnOrderChanges(client: ClientBase): Promise<ColumnOrderChange[]> {
  const { rows } = await client.query<Row>(TABLES_SQL);
  const byOid = new Map(rows.map((r) => [r.oid, r]));
  const restored = new Map<number, string[]>();
  const orderOf = (r: Row): string[] => {
    const known = restored.get(r.oid);
    if (known) return known;
    const order: string[] = [];
    for (const p of r.parents) for (const c of byOid.get(p) ? orderOf(byOid.get(p)!) : []) if (!order.includes(c)) order.push(c);
    for (const c of r.columns) if (!order.includes(c)) order.push(c);
    restored.set(r.oid, order);
    return order;
  };
  return rows
    .filter((r) => r.parents.length > 0 && orderOf(r).join('\0') !== r.columns.join('\0'))
    .map((r) => ({ table: tableKey(r.schema, r.name), dumped: r.columns, restored: orderOf(r) }))
    .sort((a, b) => (a.table < b.table ? -1 : 1));
}
