// What both benchmarks share (`npm run bench`, scripts/bench.ts, and its --pitr part, scripts/bench-pitr.ts):
// a measured command (wall, CPU, peak RSS), medians, the cached sample database, bin/fbb.js.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { loadSampleDatabase } from '../src/sample/fixture';
import type { PgCluster } from '../src/sample/pgCluster';
import { sampleTree } from './procTree';

/** One measured command. */
export interface Sample {
  wall_s: number;
  cpu_s: number;
  /** Peak RSS of our node process (ours only). */
  rss_mb?: number;
  /** Peak summed RSS of the whole process tree under /usr/bin/time. */
  tree_rss_mb: number;
  bytes?: number;
  /** For ours: the dump and verify steps, from the workflow's result. */
  dump_s?: number;
  verify_s?: number;
  /** For ours backups: the database server's own CPU seconds and megabytes written meanwhile. */
  server_cpu_s?: number;
  server_written_mb?: number;
}

/** bin/fbb.js of this checkout, from scripts/ (tsx) or dist/scripts/ (built). */
export function fbbBin(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = path.dirname(dir);
  }
  return path.join(dir, 'bin', 'fbb.js');
}

/** The median of `xs`. */
export const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
/** Bytes in a MiB. */
export const MB = 1024 * 1024;

/** Runs `argv` under /usr/bin/time while sampling memory; wall from here, CPU from time (children included). */
export async function measure(argv: string[], env: Record<string, string>): Promise<{ sample: Sample; stdout: string }> {
  const timeFile = path.join(os.tmpdir(), `fbb-bench-time-${process.pid}`);
  const started = process.hrtime.bigint();
  const child = execa('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, ...argv], { env, extendEnv: false });
  const sampler = sampleTree(child.pid!, (cmd) => cmd.startsWith(process.execPath) || cmd.startsWith('node '));
  const settled = await child.then(
    (r) => ({ stdout: r.stdout, error: undefined }),
    (error: unknown) => ({ stdout: '', error }),
  );
  const peak = sampler.stop();
  if (settled.error !== undefined) throw settled.error;
  const { stdout } = settled;
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const [user, sys] = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [number, number];
  return { sample: { wall_s: wall, cpu_s: user + sys, tree_rss_mb: peak.treeBytes / MB, ...(peak.selfBytes > 0 ? { rss_mb: peak.selfBytes / MB } : {}) }, stdout };
}

/** The sample database "bench" at `scale`, loaded once per cache directory; returns its size in bytes. */
export async function ensureDatabase(cluster: PgCluster, scale: number): Promise<number> {
  const exists = await query(cluster, 'postgres', "SELECT count(*)::text AS v FROM pg_database WHERE datname = 'bench'");
  const loaded = exists === '1' && (await query(cluster, 'bench', "SELECT count(*)::text AS v FROM pg_tables WHERE tablename = 'bench_loaded'")) === '1';
  if (!loaded) {
    process.stderr.write(`bench: loading the sample database at scale ${scale} (cached for the next run)...\n`);
    await query(cluster, 'postgres', 'DROP DATABASE IF EXISTS bench WITH (FORCE)');
    await query(cluster, 'postgres', 'CREATE DATABASE bench');
    const client = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'bench' });
    await client.connect();
    try {
      // The HNSW build spills to disk past 64 MB of maintenance memory and slows down badly.
      await client.query("SET maintenance_work_mem = '1GB'");
      await loadSampleDatabase(client, { scale });
      // A marker that the load finished; it is dumped and restored like any table (no rows).
      await client.query('CREATE TABLE bench_loaded ()');
    } finally {
      await client.end();
    }
  }
  // Restores in an earlier, interrupted run may have left copies behind.
  const leftovers = await listDatabases(cluster);
  for (const name of leftovers.filter((d) => d !== 'bench' && d.startsWith('bench'))) await query(cluster, 'postgres', `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  return Number(await query(cluster, 'bench', "SELECT pg_database_size('bench')::text AS v"));
}

async function listDatabases(cluster: PgCluster): Promise<string[]> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
  await client.connect();
  try {
    return (await client.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}

/** The column `v` of the first row of `sql` on `database`. */
export async function query(cluster: PgCluster, database: string, sql: string): Promise<string | undefined> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database });
  await client.connect();
  try {
    const { rows } = await client.query<{ v?: string }>(sql);
    return rows[0]?.v;
  } finally {
    await client.end();
  }
}
