// `npm run bench`: the backup pipeline against the bare tools on the same database, in one run.
// Builds the sample database at --scale (200 ≈ 1 GB), then alternates, --runs times each:
//   floor      pg_dump > /dev/null
//   bare       pg_dump | gzip -6 > file           (what the Windmill scripts did)
//   ours       fbb backup --local (dump + verify), a child process under /usr/bin/time
//   restore    gunzip -c file | psql into a fresh database (the bare equivalent of our verify)
//   ours rest. fbb restore --local --yes --no-pre-restore-backup of that file (restore beside, swap, verify)
// and prints medians, ratios and the peak RSS of our process. Speed is measured here, never in tests.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { loadSampleDatabase } from '../src/testing/fixture';
import { startPgCluster, type PgCluster } from '../src/testing/pgCluster';

interface Args {
  scale: number;
  runs: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1]! : fallback;
  };
  return { scale: Number(get('scale', '200')), runs: Number(get('runs', '3')), out: get('out', '.bench/results.json') };
}

/** bin/fbb.js of this checkout, from scripts/ (tsx) or dist/scripts/ (built). */
function fbbBin(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
    dir = path.dirname(dir);
  }
  return path.join(dir, 'bin', 'fbb.js');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-bench-'));
  const cluster = await startPgCluster();
  const env = (database: string) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PGHOST: cluster.host,
    PGPORT: String(cluster.port),
    PGUSER: cluster.user,
    PGPASSWORD: cluster.password,
    PGDATABASE: database,
  });
  try {
    process.stderr.write(`bench: loading the sample database at scale ${args.scale}...\n`);
    const loadSeconds = await timed(() => load(cluster, args.scale));
    const size = await query(cluster, 'bench', "SELECT pg_database_size('bench')::bigint AS v");
    process.stderr.write(`bench: ${(Number(size) / 1e9).toFixed(2)} GB loaded in ${loadSeconds.toFixed(0)} s\n`);

    const bin = cluster.binDir;
    const results: Record<string, number[]> = { floor: [], bare: [], ours: [], ours_dump: [], ours_verify: [], restore: [], ours_restore: [] };
    const restoreRss: number[] = [];
    const rss: number[] = [];
    let bareSize = 0;
    let oursSize = 0;
    for (let run = 1; run <= args.runs; run++) {
      process.stderr.write(`bench: run ${run}/${args.runs}\n`);
      results.floor!.push(await timed(() => execa('bash', ['-c', `"${bin}/pg_dump" > /dev/null`], { env: env('bench'), extendEnv: false })));
      const bareFile = path.join(work, 'bare.sql.gz');
      results.bare!.push(await timed(() => execa('bash', ['-o', 'pipefail', '-c', `"${bin}/pg_dump" | gzip -6 > "${bareFile}"`], { env: env('bench'), extendEnv: false })));
      bareSize = fs.statSync(bareFile).size;

      const backupDir = path.join(work, `backups-${run}`);
      const timeFile = path.join(work, 'time.txt');
      let output = '';
      const oursSeconds = await timed(async () => {
        const child = await execa('/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, fbbBin(), 'backup', '--local', '--json', '--no-cleanup'], {
          env: { ...env('bench'), BACKUP_DIR: backupDir, PG_BIN_DIR: bin },
          extendEnv: false,
        });
        output = child.stdout;
      });
      results.ours!.push(oursSeconds);
      const result = JSON.parse(output) as { filename: string; verified: { duration_ms: number }; duration_ms: number };
      results.ours_verify!.push(result.verified.duration_ms / 1000);
      results.ours_dump!.push((result.duration_ms - result.verified.duration_ms) / 1000);
      rss.push(Number(fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024);
      const ourFile = path.join(backupDir, result.filename);
      oursSize = fs.statSync(ourFile).size;

      await query(cluster, 'postgres', 'DROP DATABASE IF EXISTS bench_restore');
      await query(cluster, 'postgres', 'CREATE DATABASE bench_restore');
      results.restore!.push(
        await timed(() => execa('bash', ['-o', 'pipefail', '-c', `gunzip -c "${ourFile}" | "${bin}/psql" -X -q -v ON_ERROR_STOP=1 -o /dev/null`], { env: env('bench_restore'), extendEnv: false })),
      );
      const restoreOut = await execa('/usr/bin/time', ['-f', '%M', '-o', timeFile, process.execPath, fbbBin(), 'restore', result.filename, '--local', '--yes', '--no-pre-restore-backup', '--json'], {
        env: { ...env('bench'), BACKUP_DIR: backupDir, PG_BIN_DIR: bin },
        extendEnv: false,
      });
      const restored = JSON.parse(restoreOut.stdout) as { status: string; duration_ms: number; aside_database: string };
      if (restored.status !== 'success') throw new Error(`restore ended ${restored.status}`);
      results.ours_restore!.push(restored.duration_ms / 1000);
      restoreRss.push(Number(fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop()) / 1024);
      await query(cluster, 'postgres', `DROP DATABASE IF EXISTS "${restored.aside_database}"`);
      fs.rmSync(backupDir, { recursive: true, force: true });
    }

    const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)])) as Record<string, number>;
    const row = (name: string, key: string, note: string) => `| ${name} | ${m[key]!.toFixed(1)} s | ${Math.min(...results[key]!).toFixed(1)}–${Math.max(...results[key]!).toFixed(1)} s | ${note} |`;
    const table = [
      `database: sample at scale ${args.scale}, ${(Number(size) / 1e9).toFixed(2)} GB on disk; ${args.runs} run(s) each, alternating; ${os.cpus().length} cores`,
      '',
      '| what | median | min–max | note |',
      '| --- | --- | --- | --- |',
      row('pg_dump > /dev/null (floor)', 'floor', ''),
      row('pg_dump \\| gzip -6 (bare)', 'bare', `${(bareSize / 1e6).toFixed(0)} MB`),
      row('fbb backup --local (dump + verify)', 'ours', `${(oursSize / 1e6).toFixed(0)} MB; peak RSS ${median(rss).toFixed(0)} MB`),
      row('  of which dump (+ lock, settings)', 'ours_dump', `${(m.ours_dump! / m.bare!).toFixed(2)}× bare pg_dump \\| gzip -6`),
      row('  of which verify (restore + counts)', 'ours_verify', `${(m.ours_verify! / m.restore!).toFixed(2)}× bare restore`),
      row('gunzip -c \\| psql (bare restore)', 'restore', ''),
      row('fbb restore --local --yes (no pre-restore backup)', 'ours_restore', `${(m.ours_restore! / m.restore!).toFixed(2)}× bare restore; peak RSS ${median(restoreRss).toFixed(0)} MB`),
    ].join('\n');
    process.stdout.write(`${table}\n`);
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, `${JSON.stringify({ scale: args.scale, database_bytes: Number(size), runs: results, peak_rss_mb: rss, restore_peak_rss_mb: restoreRss, sizes: { bare: bareSize, ours: oursSize } }, null, 2)}\n`);
  } finally {
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function load(cluster: PgCluster, scale: number): Promise<void> {
  await query(cluster, 'postgres', 'CREATE DATABASE bench');
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'bench' });
  await client.connect();
  try {
    // The HNSW build spills to disk past 64 MB of maintenance memory and slows down badly.
    await client.query("SET maintenance_work_mem = '1GB'");
    await loadSampleDatabase(client, { scale });
  } finally {
    await client.end();
  }
}

async function query(cluster: PgCluster, database: string, sql: string): Promise<string | undefined> {
  const client = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database });
  await client.connect();
  try {
    const { rows } = await client.query<{ v?: string }>(sql);
    return rows[0]?.v;
  } finally {
    await client.end();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
