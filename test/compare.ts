import { execa } from 'execa';
import { Client } from 'pg';
import { pgToolPath } from '../src/activities/pgTools';
import { rowText, COLUMN_NAMES_SQL } from '../src/activities/rowText';

/** Comparable summary of a database: normalised schema dump plus exact per-table row counts and content hashes. */
export interface DatabaseFingerprint {
  schema: string;
  tables: Record<string, { rows: number; hash: string }>;
  /** Each sequence's last value (null when never called): a schema-only dump does not carry them. */
  sequences: Record<string, string | null>;
}

/** Connection settings; passed to child processes via environment variables (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE), never argv. */
export interface PgConn {
  host: string;
  port: number;
  user: string;
  password?: string;
  database: string;
}

const MAX_SCHEMA_LINES_REPORTED = 20;

/** Pins every setting that changes a row's text form, so hashes agree across servers and sessions. */
const STABLE_OUTPUT_SQL = `
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
SET bytea_output = 'hex';
SET lc_monetary = 'C'`;

const USER_TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS table, format('%I.%I', n.nspname, c.relname) AS quoted
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`;

/** Fingerprints a database: schema via pg_dump (normalised), rows via count(*) and an order-independent md5 per table. */
export async function fingerprintDatabase(conn: PgConn, options: { pgBinDir?: string } = {}): Promise<DatabaseFingerprint> {
  const schema = await dumpSchema(conn, pgToolPath('pg_dump', options.pgBinDir));
  const { tables, sequences } = await hashTables(conn);
  return { schema, tables, sequences };
}

/** Human-readable list of differences, empty when identical. */
export function diffFingerprints(a: DatabaseFingerprint, b: DatabaseFingerprint): string[] {
  return [...diffSchemas(a.schema, b.schema), ...diffTables(a.tables, b.tables), ...diffSequences(a.sequences, b.sequences)];
}

/** Environment for libpq child processes; inherited PG* connection variables never leak through. */
function pgEnv(conn: PgConn): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['PGHOST', 'PGHOSTADDR', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']) {
    delete env[name];
  }
  env.PGHOST = conn.host;
  env.PGPORT = String(conn.port);
  env.PGUSER = conn.user;
  env.PGDATABASE = conn.database;
  if (conn.password !== undefined) env.PGPASSWORD = conn.password;
  return env;
}

async function dumpSchema(conn: PgConn, pgDump: string): Promise<string> {
  const result = await execa(pgDump, ['--schema-only', '--no-owner'], {
    env: pgEnv(conn),
    extendEnv: false,
    stripFinalNewline: false,
    maxBuffer: 256 * 1024 * 1024,
  });
  return normaliseSchema(result.stdout);
}

/** Drops lines that vary between otherwise identical databases: comments, blanks, SET and \restrict keys. */
function normaliseSchema(dump: string): string {
  return dump
    .split('\n')
    .filter((line) => !isVolatileLine(line))
    .join('\n');
}

function isVolatileLine(line: string): boolean {
  return (
    line.trim() === '' ||
    line.startsWith('--') ||
    line.startsWith('SET ') ||
    line.startsWith('\\restrict') ||
    line.startsWith('\\unrestrict')
  );
}

async function hashTables(conn: PgConn): Promise<Pick<DatabaseFingerprint, 'tables' | 'sequences'>> {
  const client = new Client({ host: conn.host, port: conn.port, user: conn.user, password: conn.password, database: conn.database });
  await client.connect();
  try {
    await client.query(STABLE_OUTPUT_SQL);
    const list = await client.query<{ schema: string; table: string; quoted: string }>(USER_TABLES_SQL);
    const tables: DatabaseFingerprint['tables'] = {};
    for (const row of list.rows) {
      tables[`${row.schema}.${row.table}`] = await hashTable(client, row.quoted);
    }
    const seqs = await client.query<{ name: string; last_value: string | null }>(
      `SELECT schemaname || '.' || sequencename AS name, last_value::text FROM pg_sequences ORDER BY schemaname || '.' || sequencename COLLATE "C"`,
    );
    const sequences = Object.fromEntries(seqs.rows.map((r) => [r.name, r.last_value]));
    return { tables, sequences };
  } finally {
    await client.end();
  }
}

/** Count and order-independent hash of a table's rows, over each row's text with its columns by name: any type, any column order. */
async function hashTable(client: Client, quotedName: string): Promise<{ rows: number; hash: string }> {
  const columns = (await client.query<{ name: string }>(COLUMN_NAMES_SQL, [quotedName])).rows.map((c) => c.name);
  const result = await client.query<{ rows: string; hash: string }>(
    `SELECT count(*) AS rows, md5(coalesce(string_agg(h, '' ORDER BY h COLLATE "C"), '')) AS hash
     FROM (SELECT md5(${rowText(columns, 't')}) AS h FROM ${quotedName} AS t) AS s`,
  );
  const row = result.rows[0];
  if (!row) throw new Error(`no result hashing ${quotedName}`);
  return { rows: Number(row.rows), hash: row.hash };
}

function diffSchemas(a: string, b: string): string[] {
  if (a === b) return [];
  const linesA = a.split('\n');
  const linesB = b.split('\n');
  const setA = new Set(linesA);
  const setB = new Set(linesB);
  const removed = linesA.filter((line) => !setB.has(line));
  const added = linesB.filter((line) => !setA.has(line));
  const details = [
    ...removed.slice(0, MAX_SCHEMA_LINES_REPORTED).map((line) => `schema: only in first: ${line}`),
    ...added.slice(0, MAX_SCHEMA_LINES_REPORTED).map((line) => `schema: only in second: ${line}`),
  ];
  if (details.length === 0) details.push('schema: same statements in a different order');
  const hidden = removed.length + added.length - details.length;
  if (hidden > 0) details.push(`schema: … and ${hidden} more differing lines`);
  return details;
}

function diffTables(a: DatabaseFingerprint['tables'], b: DatabaseFingerprint['tables']): string[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return names.flatMap((name) => diffTable(name, a[name], b[name]));
}

function diffSequences(a: DatabaseFingerprint['sequences'], b: DatabaseFingerprint['sequences']): string[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return names.filter((n) => a[n] !== b[n]).map((n) => `sequence ${n}: last value ${String(a[n])} vs ${String(b[n])}`);
}

function diffTable(name: string, a: { rows: number; hash: string } | undefined, b: { rows: number; hash: string } | undefined): string[] {
  if (!a) return [`table ${name}: only in second (${b?.rows ?? 0} rows)`];
  if (!b) return [`table ${name}: only in first (${a.rows} rows)`];
  if (a.rows !== b.rows) return [`table ${name}: row count ${a.rows} vs ${b.rows}`];
  if (a.hash !== b.hash) return [`table ${name}: same row count (${a.rows}) but contents differ`];
  return [];
}
