// Times a tenant restore on the sample database at --scale (200 ≈ 1 GB): a verified backup, two
// tenants changed, `fbb restore --tenant --dry-run` (the plan), `fbb restore --tenant --yes`, and
// bare `gunzip | psql` of the same file into a new database for comparison. Prints the plan and a table.
//   node dist/scripts/bench-tenant-restore.js [--scale 200] [--cache-dir DIR] [--backup-dir DIR --file NAME]
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import pg from 'pg';
import { runCli } from '../src/client/cli';
import { loadSampleDatabase } from '../src/sample/fixture';
import { startPgCluster } from '../src/sample/pgCluster';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};

async function main(): Promise<void> {
  const scale = Number(arg('scale', '200'));
  const cluster = await startPgCluster({ persistentDir: path.join(arg('cache-dir', path.join(os.tmpdir(), 'fbb-tenant-bench-cache')), `scale-${scale}`) });
  const db = { host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password };
  const sql = async (database: string, text: string, values: unknown[] = []) => {
    const c = new pg.Client({ ...db, database });
    await c.connect();
    try {
      return (await c.query(text, values)).rows;
    } finally {
      await c.end();
    }
  };
  const env = { PGHOST: db.host, PGPORT: String(db.port), PGUSER: db.user, PGPASSWORD: db.password, PGDATABASE: 'bench', PG_BIN_DIR: cluster.binDir, BACKUP_DIR: arg('backup-dir', path.join(os.tmpdir(), `fbb-tenant-bench-${process.pid}`)), TEMPORAL_ADDRESS: '127.0.0.1:1', RESTORE_MAINTENANCE_WORK_MEM: '1GB' };
  const fbb = async (argv: string[]) => {
    const out = new PassThrough();
    const err = new PassThrough();
    let stdout = '';
    let stderr = '';
    out.on('data', (d: Buffer) => (stdout += d.toString()));
    err.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = Date.now();
    const code = await runCli(argv, { stdout: out, stderr: err, env });
    const s = (Date.now() - t) / 1000;
    if (code !== 0) throw new Error(`fbb ${argv.join(' ')} exited ${code}: ${stderr}${stdout}`);
    return { stdout, s };
  };
  try {
    const loaded = (await sql('postgres', "SELECT 1 FROM pg_database WHERE datname = 'bench'")).length === 1 && (await sql('bench', "SELECT 1 FROM pg_tables WHERE tablename = 'bench_loaded'")).length === 1;
    if (!loaded) {
      process.stderr.write(`loading the sample database at scale ${scale}...\n`);
      const t = Date.now();
      await sql('postgres', 'DROP DATABASE IF EXISTS bench WITH (FORCE)');
      await sql('postgres', 'CREATE DATABASE bench');
      const c = new pg.Client({ ...db, database: 'bench' });
      await c.connect();
      await c.query("SET maintenance_work_mem = '1GB'");
      await loadSampleDatabase(c, { scale });
      await c.query('CREATE TABLE bench_loaded ()');
      await c.end();
      process.stderr.write(`loaded in ${((Date.now() - t) / 1000).toFixed(0)} s\n`);
    }
    for (const r of await sql('postgres', "SELECT datname FROM pg_database WHERE datname LIKE 'bench_%'")) await sql('postgres', `DROP DATABASE "${r.datname}" WITH (FORCE)`);
    const size = Number((await sql('bench', "SELECT pg_database_size('bench') AS n"))[0].n);
    const tenants = (await sql('bench', 'SELECT id FROM tenants ORDER BY slug LIMIT 2')).map((r) => r.id as string);
    const count = Number((await sql('bench', 'SELECT count(*) AS n FROM tenants'))[0].n);
    // --file (with --backup-dir): a backup an earlier run made, the two tenants already changed since.
    const backup = process.argv.includes('--file') ? { stdout: JSON.stringify({ filename: arg('file', '') }), s: NaN } : await fbb(['backup', '--local', '--json']);
    const file = (JSON.parse(backup.stdout) as { filename: string }).filename;
    for (const [t, label] of process.argv.includes('--file') ? [] : ([[tenants[0]!, 'one'], [tenants[1]!, 'two']] as const)) {
      await sql('bench', 'DELETE FROM family_documents WHERE id IN (SELECT id FROM family_documents WHERE tenant_id = $1 ORDER BY id LIMIT 3)', [t]);
      await sql('bench', `UPDATE users SET display_name = display_name || ' ${label}' WHERE tenant_id = $1`, [t]);
      await sql('bench', 'DELETE FROM chat_sessions WHERE id IN (SELECT id FROM chat_sessions WHERE tenant_id = $1 ORDER BY id LIMIT 2)', [t]);
    }
    const dry = await fbb(['restore', file, '--tenant', tenants[0]!, '--dry-run', '--local']);
    const run = await fbb(['restore', file, '--tenant', tenants[0]!, '--yes', '--no-pre-restore-backup', '--local', '--json']);
    const result = JSON.parse(run.stdout) as { status: string; applied: { verification: { ok: boolean } } };
    const t = Date.now();
    await sql('postgres', 'CREATE DATABASE bench_bare');
    await execa('bash', ['-o', 'pipefail', '-c', `gunzip -c ${path.join(env.BACKUP_DIR, file)} | ${cluster.binDir}/psql -X -q -v ON_ERROR_STOP=1 -o /dev/null -d bench_bare`], { env: { ...process.env, PGHOST: db.host, PGPORT: String(db.port), PGUSER: db.user, PGPASSWORD: db.password } });
    const bare = (Date.now() - t) / 1000;
    await sql('postgres', 'DROP DATABASE bench_bare WITH (FORCE)');
    process.stdout.write(`${dry.stdout}\n`);
    process.stdout.write(
      `sample database at scale ${scale}: ${(size / 1e9).toFixed(2)} GB, ${count} tenants; ${os.cpus().length} cores\n` +
        `  fbb backup --local (verified)               ${backup.s.toFixed(1)} s\n` +
        `  fbb restore --tenant --dry-run (plan)       ${dry.s.toFixed(1)} s\n` +
        `  fbb restore --tenant --yes (apply, ${result.status}, verified ${result.applied?.verification.ok}) ${run.s.toFixed(1)} s\n` +
        `  bare gunzip | psql of the same file         ${bare.toFixed(1)} s\n`,
    );
  } finally {
    await cluster.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
