// Which rows a partial restore touches: a tenant's (found through foreign keys) or one table's.
import { equal } from '../activities/rowText';
import { ErrorType, permanent } from '../errors';
import { findTable, ident, type Catalog, type ForeignKey, type TableInfo } from './catalog';

/** One table a partial restore touches, and why. */
export interface ScopeTable {
  table: TableInfo;
  /** How its rows belong: "root table", "column family_id", "via document_chunks_document_id_fkey → public.family_documents". */
  via: string;
  /** 0: the root or a tenant column; n: n foreign keys away from one. */
  level: number;
  /** The foreign keys through which its rows belong (to tables of a lower level). */
  parents: ForeignKey[];
}

/** The rows a partial restore replaces, as SQL over the live database or the scratch copy. */
export interface Scope {
  kind: 'tenant' | 'table';
  /** The tenant id, or the table's name. */
  label: string;
  /** In insertion order: parents before children where foreign keys allow. */
  tables: ScopeTable[];
  /** Tables not touched: unreachable from the tenant and without its column (or, for a table restore, every other table). */
  leftAlone: string[];
  /** SQL that is true for the rows of `table` (aliased `alias`) the restore owns. */
  where(table: string, alias: string): string;
  /** Tenant scope: SQL giving the tenant (as text) that owns a row of `table`; null for rows of none. */
  ownerOf?(table: string, alias: string): string;
  /** Tables whose rows must stay exactly as they are (beyond the per-tenant check): a table restore's referencing tables. */
  guarded: TableInfo[];
  catalog: Catalog;
}

/** Where the tenants are: the root table and the column naming a tenant elsewhere. */
export interface TenantSchema {
  column: string;
  rootTable: string;
}

/** Defaults: a `tenants` table, and `tenant_id` columns. */
export const DEFAULT_TENANT_SCHEMA: TenantSchema = { column: 'tenant_id', rootTable: 'tenants' };

/** SQL literal (standard_conforming_strings, as every supported server has it on). */
export const literal = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/**
 * The tenant's rows: the root table's row, rows whose tenant column names it, and rows reaching
 * either through foreign keys (nullable, deferrable, circular or into partitioned tables alike:
 * a breadth-first walk over pg_catalog's foreign keys, each table taking the nearest level).
 */
export function tenantScope(catalog: Catalog, tenantId: string, schema: TenantSchema = DEFAULT_TENANT_SCHEMA): Scope {
  const root = findTable(catalog, schema.rootTable);
  if (root === undefined || root.key === null || root.key.length !== 1) {
    throw permanent(
      ErrorType.InvalidRestoreInput,
      `a tenant restore needs a root table "${schema.rootTable}" with a one-column primary key; ${root === undefined ? 'the live database has no such table' : 'it has none'}; set tenant_table to the table whose rows are the tenants`,
    );
  }
  const members = new Map<string, ScopeTable>();
  members.set(root.id, { table: root, via: 'root table', level: 0, parents: [] });
  for (const t of catalog.tables.values()) {
    if (t !== root && t.columns.some((c) => c.name === schema.column)) members.set(t.id, { table: t, via: `column ${schema.column}`, level: 0, parents: [] });
  }
  for (let level = 1; ; level++) {
    const added: ScopeTable[] = [];
    for (const t of catalog.tables.values()) {
      if (members.has(t.id)) continue;
      const parents = catalog.foreignKeys.filter((k) => k.from === t.id && k.to !== t.id && (members.get(k.to)?.level ?? Infinity) < level);
      if (parents.length > 0) added.push({ table: t, level, parents, via: parents.map((k) => `via ${k.name} → ${catalog.tables.get(k.to)!.name}`).join(', ') });
    }
    if (added.length === 0) break;
    for (const a of added) members.set(a.table.id, a);
  }
  const typed = (t: TableInfo, column: string) => `${literal(tenantId)}::${t.columns.find((c) => c.name === column)!.type}`;
  const rootKey = root.key[0]!;
  let depth = 0;
  const where = (table: string, alias: string): string => {
    const m = members.get(table)!;
    if (m.level === 0) {
      const column = m.table === root ? rootKey : schema.column;
      return `${alias}.${ident(column)} = ${typed(m.table, column)}`;
    }
    return `(${m.parents
      .map((k) => {
        const p = `p${++depth}`;
        return `EXISTS (SELECT 1 FROM ${k.to} ${p} WHERE ${join(k, p, alias)} AND ${where(k.to, p)})`;
      })
      .join(' OR ')})`;
  };
  const ownerOf = (table: string, alias: string): string => {
    const m = members.get(table)!;
    if (m.level === 0) return `${alias}.${ident(m.table === root ? rootKey : schema.column)}::text`;
    const each = m.parents.map((k) => {
      const p = `o${++depth}`;
      return `(SELECT ${ownerOf(k.to, p)} FROM ${k.to} ${p} WHERE ${join(k, p, alias)} LIMIT 1)`;
    });
    return each.length === 1 ? each[0]! : `COALESCE(${each.join(', ')})`;
  };
  return {
    kind: 'tenant',
    label: tenantId,
    tables: insertionOrder(catalog, [...members.values()]),
    leftAlone: [...catalog.tables.values()].filter((t) => !members.has(t.id)).map((t) => t.name),
    where,
    ownerOf,
    guarded: [],
    catalog,
  };
}

/** One table's rows, all of them; the tables referencing it are guarded (they must not change). */
export function tableScope(catalog: Catalog, name: string): Scope {
  const table = findTable(catalog, name);
  if (table === undefined) {
    throw permanent(ErrorType.InvalidRestoreInput, `the live database has no table "${name}" (expected schema.table, e.g. public.reminders); "\\dt *.*" in psql lists them`);
  }
  const referencing = new Set(catalog.foreignKeys.filter((k) => k.to === table.id && k.from !== table.id).map((k) => k.from));
  return {
    kind: 'table',
    label: table.name,
    tables: [{ table, via: 'the table restored', level: 0, parents: [] }],
    leftAlone: [...catalog.tables.values()].filter((t) => t !== table).map((t) => t.name),
    where: () => 'true',
    guarded: [...referencing].map((id) => catalog.tables.get(id)!),
    catalog,
  };
}

/** `child.columns = parent.refColumns`, with the aliases given (through their text where the types cannot be compared). */
export function join(k: ForeignKey, parent: string, child: string): string {
  return equal(k.columns.map((c, i) => ({ left: { name: k.refColumns[i]!, comparable: k.comparable }, right: { name: c, comparable: k.comparable } })), parent, child);
}

/** Parents before children (Kahn's order over the foreign keys between them); a cycle's tables follow in level order. */
function insertionOrder(catalog: Catalog, members: ScopeTable[]): ScopeTable[] {
  const ids = new Set(members.map((m) => m.table.id));
  const pending = new Map(members.map((m) => [m.table.id, new Set(catalog.foreignKeys.filter((k) => k.from === m.table.id && k.to !== k.from && ids.has(k.to)).map((k) => k.to))]));
  const byLevel = [...members].sort((a, b) => a.level - b.level || a.table.name.localeCompare(b.table.name));
  const order: ScopeTable[] = [];
  while (order.length < members.length) {
    const ready = byLevel.find((m) => pending.has(m.table.id) && pending.get(m.table.id)!.size === 0) ?? byLevel.find((m) => pending.has(m.table.id))!;
    order.push(ready);
    pending.delete(ready.table.id);
    for (const deps of pending.values()) deps.delete(ready.table.id);
  }
  return order;
}
