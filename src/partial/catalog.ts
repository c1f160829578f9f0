// What the partial restores need to know about a database's tables, read from pg_catalog.
import { escapeIdentifier, type ClientBase } from 'pg';
import { COMPARABLE_TYPES_CTE, comparableSql } from '../activities/rowText';
import { parseQualifiedName } from './input';

/** A foreign key, by qualified table names and column lists. */
export interface ForeignKey {
  name: string;
  from: string;
  columns: string[];
  to: string;
  refColumns: string[];
  deferrable: boolean;
  /** ON DELETE: a no action, r restrict, c cascade, n set null, d set default. */
  onDelete: string;
  /** false: some column pair is compared through its text (a type without a mergeable btree equality, activities/rowText.ts). */
  comparable: boolean;
}

/** A user table (a partitioned one counts once, by its parent). */
export interface TableInfo {
  /** Qualified and quoted: "public"."users". */
  id: string;
  /** As a person reads it: public.users. */
  name: string;
  partitioned: boolean;
  /** In the table's column order; comparable false: compared through its text (activities/rowText.ts). */
  columns: Column[];
  /** Primary key columns; null without one (rows are then compared whole). */
  key: string[] | null;
  /** Unique constraints and plain unique indexes (the primary key included), as column lists. */
  uniques: { name: string; columns: string[] }[];
  /** Sequences owned by a column (serial, identity, OWNED BY), with that column's type. */
  sequences: { sequence: string; column: string; integer: boolean }[];
  hasUserTriggers: boolean;
}

/** A column: its name, its type as format_type spells it, whether generated, whether its type can be compared natively, whether an identity ALWAYS. */
export interface Column {
  name: string;
  type: string;
  generated: boolean;
  comparable: boolean;
  /** GENERATED ALWAYS AS IDENTITY: an UPDATE may only set it to DEFAULT. */
  identityAlways: boolean;
}

/** A database's user tables and foreign keys. */
export interface Catalog {
  tables: Map<string, TableInfo>;
  foreignKeys: ForeignKey[];
}

/** Quotes an identifier (pg's escapeIdentifier: doubled quotes inside double quotes). */
export const ident = escapeIdentifier;

const USER_TABLE = `c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`;

/** Reads every user table, its columns, keys, unique indexes, owned sequences and foreign keys. */
export async function readCatalog(client: ClientBase): Promise<Catalog> {
  const { rows } = await client.query<{
    id: string;
    name: string;
    partitioned: boolean;
    columns: Column[];
    key: string[] | null;
    uniques: { name: string; columns: string[] }[] | null;
    sequences: { sequence: string; column: string; integer: boolean }[] | null;
    triggers: boolean;
  }>(`WITH RECURSIVE ${COMPARABLE_TYPES_CTE}
    SELECT format('%I.%I', n.nspname, c.relname) AS id, n.nspname || '.' || c.relname AS name, c.relkind = 'p' AS partitioned,
      (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod), 'generated', a.attgenerated <> '', 'comparable', ${comparableSql('a.atttypid')}, 'identityAlways', a.attidentity = 'a') ORDER BY a.attnum)
         FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
      (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM pg_constraint p, unnest(p.conkey) WITH ORDINALITY k(attnum, ord)
         JOIN pg_attribute a ON a.attnum = k.attnum WHERE p.conrelid = c.oid AND p.contype = 'p' AND a.attrelid = c.oid) AS key,
      (SELECT json_agg(json_build_object('name', ic.relname, 'columns',
           (SELECT array_agg(a.attname::text ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord) JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum)))
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL) AS uniques,
      (SELECT json_agg(json_build_object('sequence', format('%I.%I', sn.nspname, s.relname), 'column', a.attname,
           'integer', a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)))
         FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON sn.oid = s.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid AND d.deptype IN ('a', 'i')) AS sequences,
      EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal) AS triggers
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE ${USER_TABLE}
    ORDER BY 2`);
  const tables = new Map<string, TableInfo>();
  for (const r of rows) {
    tables.set(r.id, {
      id: r.id,
      name: r.name,
      partitioned: r.partitioned,
      // A table without columns (CREATE TABLE x ()) has none to aggregate.
      columns: r.columns ?? [],
      key: r.key,
      uniques: (r.uniques ?? []).filter((u) => u.columns !== null),
      sequences: r.sequences ?? [],
      hasUserTriggers: r.triggers,
    });
  }
  const fks = await client.query<{ name: string; from: string; to: string; columns: string[]; ref_columns: string[]; deferrable: boolean; on_delete: string; comparable: boolean }>(`WITH RECURSIVE ${COMPARABLE_TYPES_CTE}
    SELECT k.conname AS name, format('%I.%I', fn.nspname, f.relname) AS from, format('%I.%I', tn.nspname, t.relname) AS to,
      (SELECT array_agg(a.attname::text ORDER BY x.ord) FROM unnest(k.conkey) WITH ORDINALITY x(attnum, ord) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = x.attnum) AS columns,
      (SELECT array_agg(a.attname::text ORDER BY x.ord) FROM unnest(k.confkey) WITH ORDINALITY x(attnum, ord) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = x.attnum) AS ref_columns,
      k.condeferrable AS deferrable, k.confdeltype AS on_delete,
      (SELECT bool_and(${comparableSql('a.atttypid')}) FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)) AS comparable
    FROM pg_constraint k
    JOIN pg_class f ON f.oid = k.conrelid JOIN pg_namespace fn ON fn.oid = f.relnamespace
    JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
    WHERE k.contype = 'f' AND k.conparentid = 0 AND NOT f.relispartition
    ORDER BY 2, 1`);
  const foreignKeys = fks.rows
    .filter((k) => tables.has(k.from) && tables.has(k.to))
    .map((k) => ({ name: k.name, from: k.from, to: k.to, columns: k.columns, refColumns: k.ref_columns, deferrable: k.deferrable, onDelete: k.on_delete, comparable: k.comparable }));
  return { tables, foreignKeys };
}

/** The table's column `name` (one it has). */
export function column(t: TableInfo, name: string): Column {
  return t.columns.find((c) => c.name === name)!;
}

/** Key and unique-key columns the restore compares through their text, as "name (type)"; empty when none. */
export function comparedAsText(t: TableInfo): string[] {
  const keyed = new Set([...(t.key ?? []), ...t.uniques.flatMap((u) => u.columns)]);
  return t.columns.filter((c) => keyed.has(c.name) && !c.comparable).map((c) => `${c.name} (${c.type})`);
}

/** Finds a table by "schema.table" (quoted parts as in SQL), or by a bare name in public (then any schema). */
export function findTable(catalog: Catalog, name: string): TableInfo | undefined {
  const all = [...catalog.tables.values()];
  const parsed = parseQualifiedName(name);
  if (parsed === undefined) return undefined;
  if (parsed.schema !== null) return all.find((t) => t.name === `${parsed.schema}.${parsed.name}`);
  return all.find((t) => t.name === `public.${parsed.name}`) ?? all.find((t) => t.name.endsWith(`.${parsed.name}`));
}
