// `npm run bench`: our backup and restore against the bare tools on the same database, in one run.
//
//   npm run bench -- [--scale 200] [--runs 3] [--modes gzip:1,gzip:6,zstd:3,custom:1] [--restore-runs N]
//                    [--verify during_dump,after_dump|none] [--maintenance-workers N] [--reference]
//                    [--postgres 15|16|17|18] [--cache-dir DIR] [--out .bench/results.json]
//                    [--verify-target worker,source]
//
// Builds the sample database at --scale (200 ≈ 1 GB on disk, 400 ≈ 2 GB) in a PostgreSQL cluster
// kept in --cache-dir, so the next run with the same scale starts at once. Then, --runs times,
// alternating so that drift in the machine hits both sides alike:
//   floor                 pg_dump > /dev/null
//   for each mode:
//     bare backup         pg_dump | gzip -L  /  pg_dump | zstd -L -T0  /  pg_dump -Fc -Z L
//     ours dump step      the dumpDatabase activity alone (scripts/bench-dump.ts), no workflow, no verification
//     ours backup         fbb backup --local (dump + verify, the real workflows on a throwaway Temporal server),
//                         once per --verify value: during_dump (one pass) and after_dump (two, which
//                         also times the dump step on its own)
//                         and per --verify-target (default worker: the worker's own server; source: the
//                         database server), with the database server's own CPU seconds and bytes written
//     bare restore        of our file into a fresh database: gunzip -c | psql, zstd -dc | psql, pg_restore -j2
//     ours restore        fbb restore --local --yes --no-pre-restore-backup (restore beside, swap, verify)
// Restores run --restore-runs times (default: --runs). Bare restores get the same maintenance_work_mem
// as ours (PGOPTIONS), so the ratio is our overhead; with --reference, one more bare restore at the
// server's default is the reference for what that setting buys (slow: many minutes at 1 GB). Every command runs under /usr/bin/time (CPU seconds) while
// /proc is sampled for the peak RSS of our node process and of its whole process tree (pg_dump, psql,
// zstd included; the PostgreSQL server's own processes are not ours and are not counted).
// Speed is measured here, never asserted in tests.
//
//   npm run bench -- --pitr [--scale 200] [--runs 3] ...: base backups and restores to a moment instead
//                    (scripts/bench-pitr.ts says what it measures).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { ensureDatabase, fbbBin, MB, measure, median, query, type Sample } from './benchKit';
import { runPitrBench } from './bench-pitr';
import { measureServer, renderServerCost } from './serverCost';

type Kind = 'gzip' | 'zstd' | 'custom';

interface Mode {
  kind: Kind;
  level: number;
  /** "gzip:1" */
  label: string;
}

interface Args {
  scale: number;
  runs: number;
  restoreRuns: number;
  modes: Mode[];
  cacheDir: string;
  out: string;
  maintenanceWorkMem: string;
  /** max_parallel_maintenance_workers for every restore, ours and bare; undefined = the server's. */
  maintenanceWorkers: string | undefined;
  /** BACKUP_VERIFY values to run ours with: one pass (during_dump) and two (after_dump, which also times the dump step alone). */
  verify: Verify[];
  reference: boolean;
  /** PostgreSQL major of the benchmark's server (and so of the bare tools); undefined: the machine's default (15). */
  major: number | undefined;
  /** VERIFY_TARGET values to run ours with; the first one's rows are the main table's. */
  verifyTargets: VerifyTarget[];
}

type VerifyTarget = 'worker' | 'source';

type Verify = 'during_dump' | 'after_dump';

function majorArg(value: string): number {
  const major = Number(value);
  if (![15, 16, 17, 18].includes(major)) throw new Error(`--postgres: "${value}" is not 15, 16, 17 or 18 (install 16-18 with: bash scripts/install-deps.sh --postgres ${value})`);
  return major;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const modes = get('modes', 'gzip:1,gzip:6,zstd:3,custom:1')
    .split(',')
    .map((m): Mode => {
      const [kind, level] = m.split(':');
      if (kind !== 'gzip' && kind !== 'zstd' && kind !== 'custom') throw new Error(`--modes: "${m}" is not gzip:L, zstd:L or custom:L`);
      return { kind, level: Number(level ?? (kind === 'zstd' ? 3 : 1)), label: `${kind}:${level ?? ''}` };
    });
  const scale = Number(get('scale', '200'));
  const runs = Number(get('runs', '3'));
  return {
    scale,
    runs,
    restoreRuns: Number(get('restore-runs', String(runs))),
    modes,
    cacheDir: get('cache-dir', path.join(os.tmpdir(), 'fbb-bench-cache')),
    out: get('out', '.bench/results.json'),
    maintenanceWorkMem: get('maintenance-work-mem', '512MB'),
    reference: argv.includes('--reference'),
    major: argv.includes('--postgres') ? majorArg(get('postgres', '')) : undefined,
    maintenanceWorkers: argv.includes('--maintenance-workers') ? get('maintenance-workers', '') : undefined,
    verify: get('verify', 'during_dump,after_dump')
      .split(',')
      .filter((v) => v !== 'none')
      .map((v) => {
        if (v !== 'during_dump' && v !== 'after_dump') throw new Error(`--verify: "${v}" is not during_dump or after_dump`);
        return v;
      }),
    verifyTargets: get('verify-target', 'worker')
      .split(',')
      .map((t) => {
        if (t !== 'worker' && t !== 'source') throw new Error(`--verify-target: "${t}" is not worker or source`);
        return t;
      }),
  };
}

const FORMAT: Record<Kind, string> = { gzip: 'plain_gzip', zstd: 'plain_zstd', custom: 'custom' };

async function main(): Promise<void> {
  // Base backups and point-in-time restores against the bare tools: scripts/bench-pitr.ts.
  if (process.argv.includes('--pitr')) return runPitrBench(process.argv.slice(2));
  const args = parseArgs(process.argv.slice(2));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-bench-'));
  // The worker's verification server lives under it: the postgres user (that runs it when we are root) must reach it.
  fs.chmodSync(work, 0o755);
  // One cached cluster per scale and major (15, the default, keeps the directory name it always had).
  const clusterDir = path.join(args.cacheDir, args.major === undefined ? `scale-${args.scale}` : `scale-${args.scale}-pg${args.major}`);
  const cluster = await startPgCluster({ persistentDir: clusterDir, ...(args.major === undefined ? {} : { major: args.major }) });
  const bin = cluster.binDir;
  const env = (database: string, extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    PGHOST: cluster.host,
    PGPORT: String(cluster.port),
    PGUSER: cluster.user,
    PGPASSWORD: cluster.password,
    PGDATABASE: database,
    ...extra,
  });
  const sh = (script: string, database: string, extra: Record<string, string> = {}) => measure(['bash', '-o', 'pipefail', '-c', script], env(database, extra));
  const fbb = (argv: string[], extra: Record<string, string>) =>
    measure([process.execPath, fbbBin(), ...argv], env('bench', { PG_BIN_DIR: bin, RESTORE_MAINTENANCE_WORK_MEM: args.maintenanceWorkMem, ...(args.maintenanceWorkers ? { RESTORE_MAINTENANCE_WORKERS: args.maintenanceWorkers } : {}), ...extra }));
  try {
    const size = await ensureDatabase(cluster, args.scale);
    process.stderr.write(`bench: sample database at scale ${args.scale}: ${(size / 1e9).toFixed(2)} GB\n`);

    const samples: Record<string, Sample[]> = {};
    const add = (key: string, s: Sample) => (samples[key] ??= []).push(s);
    const pgOptions = { PGOPTIONS: `-c maintenance_work_mem=${args.maintenanceWorkMem}${args.maintenanceWorkers ? ` -c max_parallel_maintenance_workers=${args.maintenanceWorkers}` : ''}` };
    for (let run = 1; run <= args.runs; run++) {
      process.stderr.write(`bench: run ${run}/${args.runs}\n`);
      add('floor', (await sh(`"${bin}/pg_dump" > /dev/null`, 'bench')).sample);
      for (const mode of args.modes) {
        const bareFile = path.join(work, `bare-${mode.kind}`);
        const bareScript = {
          gzip: `"${bin}/pg_dump" | gzip -${mode.level} > "${bareFile}"`,
          zstd: `"${bin}/pg_dump" | zstd -q -${mode.level} -T0 > "${bareFile}"`,
          custom: `"${bin}/pg_dump" -Fc -Z ${mode.level} -f "${bareFile}"`,
        }[mode.kind];
        const bare = (await sh(bareScript, 'bench')).sample;
        add(`${mode.label} bare backup`, { ...bare, bytes: fs.statSync(bareFile).size });
        fs.rmSync(bareFile);

        // Our dump step alone: the dumpDatabase activity, without a workflow around it or verification.
        const dumpDir = path.join(work, `dump-${run}-${mode.kind}`);
        const dumpOnly = await measure(
          [process.execPath, path.join(__dirname, 'bench-dump.js')],
          env('bench', { PG_BIN_DIR: bin, BACKUP_DIR: dumpDir, BACKUP_FORMAT: FORMAT[mode.kind], BACKUP_GZIP_LEVEL: String(mode.level), BACKUP_ZSTD_LEVEL: String(mode.level) }),
        );
        const timed = JSON.parse(dumpOnly.stdout) as { seconds: number; size_bytes: number };
        add(`${mode.label} ours dump activity`, { ...dumpOnly.sample, dump_s: timed.seconds, bytes: timed.size_bytes });
        fs.rmSync(dumpDir, { recursive: true, force: true });

        // The file the restores below use: the last of ours.
        let backupDir = '';
        let result = { filename: '' };
        // A custom-format file is always verified after the dump (pg_restore cannot read a pipe with several jobs).
        for (const verify of mode.kind === 'custom' ? (['after_dump'] as const) : args.verify) {
          for (const target of args.verifyTargets) {
            if (backupDir !== '') fs.rmSync(backupDir, { recursive: true, force: true });
            backupDir = path.join(work, `backups-${run}-${mode.kind}-${verify}-${target}`);
            const levels = { BACKUP_DIR: backupDir, BACKUP_FORMAT: FORMAT[mode.kind], BACKUP_GZIP_LEVEL: String(mode.level), BACKUP_ZSTD_LEVEL: String(mode.level), BACKUP_VERIFY: verify };
            const where = { VERIFY_TARGET: target, VERIFY_SERVER_DIR: path.join(work, 'verify-server') };
            const measured = await measureServer(cluster.dataDir, () => fbb(['backup', '--local', '--json', '--no-cleanup', '--format', FORMAT[mode.kind]], { ...levels, ...where }));
            const ours = measured.value;
            result = JSON.parse(ours.stdout) as { filename: string; verified: { duration_ms: number }; duration_ms: number };
            const r = result as { filename: string; verified: { duration_ms: number }; duration_ms: number };
            // The first target's rows are the main table's (keys as before); the others are in the production-side table only.
            add(`${mode.label} ours backup ${verify}${target === args.verifyTargets[0] ? '' : ` @${target}`}`, {
              ...ours.sample,
              bytes: fs.statSync(path.join(backupDir, r.filename)).size,
              server_cpu_s: measured.cpu_s,
              server_written_mb: measured.written_mb,
              // Two passes: the verification's own time, and the rest (the dump step, with the run's start and end).
              ...(verify === 'after_dump' ? { verify_s: r.verified.duration_ms / 1000, dump_s: (r.duration_ms - r.verified.duration_ms) / 1000 } : {}),
            });
          }
        }
        const file = path.join(backupDir, result.filename);
        const levels = { BACKUP_DIR: backupDir, BACKUP_FORMAT: FORMAT[mode.kind] };

        if (run <= args.restoreRuns) {
          const restoreScript = {
            gzip: `gunzip -c "${file}" | "${bin}/psql" -X -q -v ON_ERROR_STOP=1 -o /dev/null`,
            zstd: `zstd -dc "${file}" | "${bin}/psql" -X -q -v ON_ERROR_STOP=1 -o /dev/null`,
            custom: `"${bin}/pg_restore" --exit-on-error -j 2 -d bench_restore "${file}"`,
          }[mode.kind];
          await recreate(cluster, 'bench_restore');
          add(`${mode.label} bare restore`, (await sh(restoreScript, 'bench_restore', pgOptions)).sample);
          if (args.reference && run === 1 && mode === args.modes[0]) {
            await recreate(cluster, 'bench_restore');
            add(`${mode.label} bare restore, server default maintenance_work_mem`, (await sh(restoreScript, 'bench_restore')).sample);
          }
          await query(cluster, 'postgres', 'DROP DATABASE IF EXISTS bench_restore');

          const restored = await fbb(['restore', result.filename, '--local', '--yes', '--no-pre-restore-backup', '--json'], levels);
          const r = JSON.parse(restored.stdout) as { status: string; aside_database: string };
          if (r.status !== 'success') throw new Error(`fbb restore ended ${r.status}: ${restored.stdout}`);
          add(`${mode.label} ours restore`, restored.sample);
          // The restored copy is now "bench"; the original went aside: drop it so the disk does not fill.
          await query(cluster, 'postgres', `DROP DATABASE IF EXISTS "${r.aside_database}"`);
        }
        if (backupDir !== '') fs.rmSync(backupDir, { recursive: true, force: true });
      }
    }

    const table = `${render(args, size, samples)}\n${renderServerCost(samples, args.verifyTargets[0]!)}`;
    process.stdout.write(`${table}\n`);
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(
      args.out,
      `${JSON.stringify({ scale: args.scale, database_bytes: size, cores: os.cpus().length, maintenance_work_mem: args.maintenanceWorkMem, max_parallel_maintenance_workers: args.maintenanceWorkers ?? null, verify: args.verify, verify_targets: args.verifyTargets, runs: args.runs, restore_runs: args.restoreRuns, samples }, null, 2)}\n`,
    );
    fs.writeFileSync(args.out.replace(/\.json$/, '.md'), `${table}\n`);
  } finally {
    await cluster.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The results as a Markdown table with ratios ours / bare. */
function render(args: Args, size: number, samples: Record<string, Sample[]>): string {
  const med = (key: string, field: keyof Sample) => {
    const xs = (samples[key] ?? []).map((s) => s[field]).filter((x): x is number => typeof x === 'number');
    return xs.length > 0 ? median(xs) : undefined;
  };
  const range = (key: string, field: keyof Sample) => {
    const xs = (samples[key] ?? []).map((s) => s[field] as number);
    return xs.length > 1 ? `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}` : '';
  };
  const f1 = (x: number | undefined) => (x === undefined ? '' : x.toFixed(1));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '' : `${(a / b).toFixed(2)}×`);
  const lines = [
    `sample database at scale ${args.scale}: ${(size / 1e9).toFixed(2)} GB on disk; ${args.runs} backup run(s), ${args.restoreRuns} restore run(s), alternating; ${os.cpus().length} cores; restores with maintenance_work_mem=${args.maintenanceWorkMem}, max_parallel_maintenance_workers=${args.maintenanceWorkers ?? "the server's"}`,
    '',
    '| what | wall s (median) | min–max | CPU s | peak RSS ours / tree MB | output MB | ratio |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  const floor = med('floor', 'wall_s');
  lines.push(`| pg_dump > /dev/null (floor) | ${f1(floor)} | ${range('floor', 'wall_s')} | ${f1(med('floor', 'cpu_s'))} | | | |`);
  for (const mode of args.modes) {
    const m = mode.label;
    const bareName = { gzip: `pg_dump \\| gzip -${mode.level}`, zstd: `pg_dump \\| zstd -${mode.level} -T0`, custom: `pg_dump -Fc -Z ${mode.level}` }[mode.kind];
    const bareRestoreName = { gzip: 'gunzip -c \\| psql', zstd: 'zstd -dc \\| psql', custom: 'pg_restore -j 2' }[mode.kind];
    const bare = med(`${m} bare backup`, 'wall_s');
    const bareRestore = med(`${m} bare restore`, 'wall_s');
    const oursRestore = med(`${m} ours restore`, 'wall_s');
    const mb = (key: string) => {
      const bytes = med(key, 'bytes');
      return bytes === undefined ? '' : f1(bytes / MB);
    };
    const rss = (key: string) => `${f1(med(key, 'rss_mb'))} / ${f1(med(key, 'tree_rss_mb'))}`;
    const row = (key: string, what: string, wall: number | undefined, ratioText: string, withStats = true) =>
      `| ${what} | ${f1(wall)} | ${range(key, 'wall_s')} | ${withStats ? f1(med(key, 'cpu_s')) : ''} | ${withStats ? rss(key) : ''} | ${withStats ? mb(key) : ''} | ${ratioText} |`;
    lines.push(`| **${m}** bare: ${bareName} | ${f1(bare)} | ${range(`${m} bare backup`, 'wall_s')} | ${f1(med(`${m} bare backup`, 'cpu_s'))} | | ${mb(`${m} bare backup`)} | ${ratio(bare, floor)} of floor |`);
    const dumpActivity = med(`${m} ours dump activity`, 'dump_s');
    lines.push(
      row(`${m} ours dump activity`, `${m} ours: the dump step alone (the dumpDatabase activity in a started process)`, dumpActivity, `**${ratio(dumpActivity, floor)}** of floor; ${ratio(dumpActivity, bare)} of bare`).replace(
        `| ${range(`${m} ours dump activity`, 'wall_s')} |`,
        `| ${range(`${m} ours dump activity`, 'dump_s')} |`,
      ),
    );
    for (const verify of mode.kind === 'custom' ? (['after_dump'] as const) : args.verify) {
      const key = `${m} ours backup ${verify}`;
      const wall = med(key, 'wall_s');
      const how = verify === 'during_dump' ? 'one pass, BACKUP_VERIFY=during_dump' : 'two passes, BACKUP_VERIFY=after_dump';
      lines.push(row(key, `${m} ours: fbb backup --local, verified (${how})`, wall, `**${ratio(wall, bareRestore)}** of bare restore`));
      if (verify === 'after_dump') {
        const dump = med(key, 'dump_s');
        lines.push(
          row(key, `${m} ours: of which dump step`, dump, `**${ratio(dump, bare)}** of bare; ${ratio(dump, floor)} of floor`, false).replace(`| ${range(key, 'wall_s')} |`, `| ${range(key, 'dump_s')} |`),
          row(key, `${m} ours: of which verify step`, med(key, 'verify_s'), `${ratio(med(key, 'verify_s'), bareRestore)} of bare restore`, false).replace(`| ${range(key, 'wall_s')} |`, `| ${range(key, 'verify_s')} |`),
        );
      }
    }
    lines.push(
      `| ${m} bare restore: ${bareRestoreName} | ${f1(bareRestore)} | ${range(`${m} bare restore`, 'wall_s')} | ${f1(med(`${m} bare restore`, 'cpu_s'))} | | | |`,
      `| ${m} ours: fbb restore --local --yes | ${f1(oursRestore)} | ${range(`${m} ours restore`, 'wall_s')} | ${f1(med(`${m} ours restore`, 'cpu_s'))} | ${rss(`${m} ours restore`)} | | **${ratio(oursRestore, bareRestore)}** of bare restore |`,
    );
    const reference = `${m} bare restore, server default maintenance_work_mem`;
    if (samples[reference]) lines.push(`| ${m} bare restore at the server's default maintenance_work_mem (reference) | ${f1(med(reference, 'wall_s'))} | | ${f1(med(reference, 'cpu_s'))} | | | ${ratio(oursRestore, med(reference, 'wall_s'))} ours / this |`);
  }
  return lines.join('\n');
}

async function recreate(cluster: PgCluster, database: string): Promise<void> {
  await query(cluster, 'postgres', `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await query(cluster, 'postgres', `CREATE DATABASE ${database}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
