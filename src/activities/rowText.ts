// SQL that works on every column type and every column order. Types without a default btree
// ordering, or whose equality can be neither merged nor hashed (json, xml, point, box, polygon, circle,
// line, lseg, path, aclitem, arrays, domains and composites of these), are compared through their
// text; a row's text lists its columns by name, since a restored inheritance child may order them
// otherwise (pg_dump recreates it with its parents' columns first).
import { ident } from '../partial/catalog';

/** A column as the builders below need it. */
export interface ColumnRef {
  name: string;
  /** false: compared through its text (see comparableTypeSql). */
  comparable: boolean;
}

/**
 * SQL for a WITH RECURSIVE list: `fbb_comparable(typ, ok)`, for every type a column has, ok when its
 * values can be ordered, grouped and joined on natively: every type it is made of (through domains,
 * arrays and composites) has a default btree operator class (its own, a polymorphic one, or one of a
 * type it is implicitly binary-coercible to, as PostgreSQL looks them up) whose equality can be
 * merge-joined. Computed once per query, over the set of types (per column it took a second).
 */
export const COMPARABLE_TYPES_CTE = `
fbb_good AS MATERIALIZED (
  SELECT o.opcintype AS typ FROM pg_opclass o JOIN pg_am m ON m.oid = o.opcmethod AND m.amname = 'btree'
  JOIN pg_amop ao ON ao.amopfamily = o.opcfamily AND ao.amopstrategy = 3 AND ao.amoplefttype = o.opcintype AND ao.amoprighttype = o.opcintype
  JOIN pg_operator op ON op.oid = ao.amopopr AND op.oprcanmerge
  WHERE o.opcdefault),
fbb_parts(root, typ) AS (
  SELECT DISTINCT atttypid, atttypid FROM pg_attribute WHERE attnum > 0 AND NOT attisdropped
  UNION
  SELECT p.root, x.next FROM fbb_parts p JOIN pg_type t ON t.oid = p.typ CROSS JOIN LATERAL (
    SELECT t.typbasetype AS next WHERE t.typtype = 'd'
    UNION ALL SELECT t.typelem WHERE t.typcategory = 'A' AND t.typelem <> 0
    UNION ALL SELECT ca.atttypid FROM pg_attribute ca WHERE t.typtype = 'c' AND ca.attrelid = t.typrelid AND ca.attnum > 0 AND NOT ca.attisdropped) x),
fbb_comparable(typ, ok) AS MATERIALIZED (
  SELECT p.root, bool_and(t.typtype IN ('d', 'c') OR (t.typcategory = 'A' AND t.typelem <> 0)
    OR t.oid IN (SELECT typ FROM fbb_good)
    OR coalesce(CASE t.typtype WHEN 'e' THEN 'anyenum'::regtype WHEN 'r' THEN 'anyrange'::regtype WHEN 'm' THEN 'anymultirange'::regtype END IN (SELECT typ FROM fbb_good), false)
    OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = t.oid AND k.castmethod = 'b' AND k.castcontext = 'i' AND k.casttarget IN (SELECT typ FROM fbb_good)))
  FROM fbb_parts p JOIN pg_type t ON t.oid = p.typ GROUP BY p.root)`;

/** SQL: whether the type `typeOid` (an expression, in a query WITH RECURSIVE COMPARABLE_TYPES_CTE) is comparable natively. */
export function comparableSql(typeOid: string): string {
  return `coalesce((SELECT ok FROM fbb_comparable WHERE typ = ${typeOid}), true)`;
}

/** SQL (parameter $1: a table's name, quoted and qualified): its live columns' names, in the table's order. */
export const COLUMN_NAMES_SQL = `SELECT a.attname AS name FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`;

/** SQL: the tables `tablesSql` lists (a query with a column `quoted`), each with its columns (name, comparable) in order and its primary key's column names. */
export function withColumnsSql(tablesSql: string): string {
  return `WITH RECURSIVE ${COMPARABLE_TYPES_CTE}
SELECT t.*,
  coalesce((SELECT json_agg(json_build_object('name', a.attname, 'comparable', ${comparableSql('a.atttypid')}) ORDER BY a.attnum)
    FROM pg_attribute a WHERE a.attrelid = t.quoted::regclass AND a.attnum > 0 AND NOT a.attisdropped), '[]') AS columns,
  coalesce((SELECT json_agg(a.attname ORDER BY array_position(i.indkey::int2[], a.attnum))
    FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
    WHERE i.indrelid = t.quoted::regclass AND i.indisprimary), '[]') AS primary_key
FROM (${tablesSql}) t`;
}

/** Column names in the order row text uses: by name (code units), whatever order the table has them in. */
export function byName(names: string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** SQL: a row's text over `columns`, listed by name: ROW(t."a", t."b")::text, "()" for none. */
export function rowText(columns: string[], alias: string): string {
  return `ROW(${byName(columns).map((c) => `${alias}.${ident(c)}`).join(', ')})::text`;
}

/** SQL: the column as it is ordered and compared: itself, or its text when its type cannot be compared. */
export function compared(alias: string, column: ColumnRef): string {
  return column.comparable ? `${alias}.${ident(column.name)}` : `(${alias}.${ident(column.name)})::text`;
}

/** SQL: `a.col = b.col` for each column pair, through text where either side's type cannot be compared. */
export function equal(pairs: { left: ColumnRef; right: ColumnRef }[], leftAlias: string, rightAlias: string): string {
  return pairs
    .map(({ left, right }) => {
      const native = left.comparable && right.comparable;
      return `${compared(leftAlias, { ...left, comparable: native })} = ${compared(rightAlias, { ...right, comparable: native })}`;
    })
    .join(' AND ');
}
