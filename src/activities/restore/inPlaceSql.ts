// What runs around a restore in place, in the restore's own transaction: the SQL that empties the
// live database first, and the filter that drops the dump's statements the role may not run.
import { StringDecoder } from 'node:string_decoder';
import { Transform, type TransformCallback } from 'node:stream';

/** Objects outside pg_catalog and information_schema (a DO block's WHERE clause on namespace `n`). */
const USER_SCHEMA = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'";
/** Not a member of an extension (those go with their extension, or stay with its owner). */
const notInExtension = (catalog: string, oid: string) => `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = ${oid} AND d.deptype = 'e')`;

/**
 * Empties the live database as far as the restoring role may: every user schema it owns (directly
 * or as the database's owner) that holds no extension of another role is dropped whole; in the
 * schemas kept (managed PostgreSQL: public holds the provider's superuser-owned `vector`), the
 * role's own tables, views, sequences, routines and types are dropped one by one, leaving the
 * extension and its objects alone. public is recreated, as PostgreSQL 15 makes it (pg_dump only
 * records how a database's public schema differs from that), if it was dropped. For a superuser
 * this drops every user schema, as before. The role's event triggers, publications and large
 * objects (which belong to no schema) are dropped too. Objects of other kinds (operators, text search
 * configurations) in a kept schema are not dropped: a dump holding them fails to restore in
 * place with "already exists", inside the transaction, so nothing changes.
 */
export const IN_PLACE_PREAMBLE = `DO $fbb$ DECLARE r record; BEGIN
  -- Objects outside any schema that a dump recreates: event triggers (first, so none fires on the drops), publications, large objects.
  FOR r IN SELECT evtname FROM pg_event_trigger WHERE pg_has_role(evtowner, 'USAGE') LOOP
    EXECUTE format('DROP EVENT TRIGGER %I', r.evtname);
  END LOOP;
  FOR r IN SELECT pubname FROM pg_publication WHERE pg_has_role(pubowner, 'USAGE') LOOP
    EXECUTE format('DROP PUBLICATION %I', r.pubname);
  END LOOP;
  PERFORM lo_unlink(l.oid) FROM pg_largeobject_metadata l WHERE pg_has_role(l.lomowner, 'USAGE');
  FOR r IN SELECT n.nspname FROM pg_namespace n WHERE ${USER_SCHEMA} AND pg_has_role(n.nspowner, 'USAGE')
      AND NOT EXISTS (SELECT 1 FROM pg_extension e WHERE e.extnamespace = n.oid AND NOT pg_has_role(e.extowner, 'USAGE')) LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname);
  END LOOP;
  FOR r IN SELECT format('%I.%I', n.nspname, c.relname) AS name,
        CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END AS kind
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND pg_has_role(c.relowner, 'USAGE') AND ${notInExtension('pg_class', 'c.oid')}
        AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
      ORDER BY c.relkind IN ('r', 'p', 'f') LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) AS name,
        CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE ${USER_SCHEMA} AND pg_has_role(p.proowner, 'USAGE') AND ${notInExtension('pg_proc', 'p.oid')} LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN SELECT format('%I.%I', n.nspname, t.typname) AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE ${USER_SCHEMA} AND pg_has_role(t.typowner, 'USAGE') AND t.typtype IN ('c', 'd', 'e', 'r') AND ${notInExtension('pg_type', 't.oid')}
        AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c') LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
    CREATE SCHEMA public AUTHORIZATION pg_database_owner;
    COMMENT ON SCHEMA public IS 'standard public schema';
    GRANT USAGE ON SCHEMA public TO PUBLIC;
  END IF;
END $fbb$;`;

/** The extensions in the connected database that the current role may not alter (owned by another role, e.g. the provider's superuser). */
export const FOREIGN_EXTENSIONS_SQL = "SELECT extname FROM pg_extension WHERE NOT pg_has_role(extowner, 'USAGE') ORDER BY extname";

/**
 * Drops from a plain SQL dump, as it streams, the statements the restoring role may not run:
 * `COMMENT ON EXTENSION x` for each extension in `foreignExtensions` (only its owner may comment
 * on it; the extension itself is kept by the preamble, and pg_dump's `CREATE EXTENSION IF NOT
 * EXISTS` then leaves it alone). Line-oriented with constant memory (one partial line at most);
 * COPY data is passed through untouched, so a row that happens to look like a statement is kept.
 */
export class ForeignExtensionFilter extends Transform {
  private rest = '';
  private readonly decoder = new StringDecoder('utf8');
  private inCopy = false;
  private skipping = false;
  private readonly comment: RegExp;
  /** How many statements were dropped, for the log. */
  dropped = 0;

  constructor(foreignExtensions: string[]) {
    super();
    const names = foreignExtensions.map((e) => `"?${e.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?`).join('|');
    this.comment = new RegExp(`^COMMENT ON EXTENSION (${names}) IS `);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    const text = this.rest + this.decoder.write(chunk);
    const end = text.lastIndexOf('\n');
    if (end === -1) {
      this.rest = text;
      return callback();
    }
    this.rest = text.slice(end + 1);
    const kept: string[] = [];
    for (const line of text.slice(0, end).split('\n')) if (this.keep(line)) kept.push(line);
    callback(null, kept.length ? `${kept.join('\n')}\n` : undefined);
  }

  override _flush(callback: TransformCallback): void {
    const last = this.rest + this.decoder.end();
    callback(null, last && this.keep(last) ? last : undefined);
  }

  private keep(line: string): boolean {
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return true;
    }
    if (this.skipping) {
      if (/;\s*$/.test(line)) this.skipping = false;
      return false;
    }
    if (/^COPY .* FROM stdin;\s*$/.test(line)) {
      this.inCopy = true;
      return true;
    }
    if (this.comment.test(line)) {
      this.dropped++;
      this.skipping = !/;\s*$/.test(line);
      return false;
    }
    return true;
  }
}
