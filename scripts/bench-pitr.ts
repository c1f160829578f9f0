// `npm run bench -- --pitr`: base backups and restores to a moment against the bare tools, on the same
// durable server (fsync, full-page writes, synchronous commit on), in one run:
//
//   npm run bench -- --pitr [--scale 200] [--runs 3] [--load-seconds 30] [--rate 50]
//                           [--partial-seconds 5] [--cache-dir DIR] [--out .bench/pitr.json]
//
// The sample database at --scale (200 ≈ 1 GB) is kept in its own cached cluster (scale-N-pitr). `fbb up`
// runs in the background (a throwaway Temporal dev server and a worker) and archives the WAL (`fbb wal
// start`, the partial segment copied every --partial-seconds). Then:
//   base backup, --runs times, alternating:  bare: pg_basebackup -Ft -z -c fast   ours: fbb basebackup
//   RPO, once: --rate commits a second for --load-seconds, the server SIGKILLed; after the archive copied
//     what it had, `fbb wal stop`; the restores below recover that WAL, and the first says how many
//     acknowledged commits are missing
//   restore to latest, --runs times, alternating, each to a started, promoted server accepting connections:
//     bare: tar -xzf base.tar.gz and pg_wal.tar.gz of the last bare backup + recovery.signal + pg_ctl
//           start -w with restore_command=cp from a plain directory (the archive gunzipped beforehand, not
//           timed). pg_wal.tar.gz holds the WAL from the backup's start: the archive need not, since
//           retention after our own (later) base backup removes WAL that no retained base backup needs.
//     ours: fbb restore --to-time latest --target-dir DIR, then pg_ctl start -w
// fbb basebackup verifies what it took (a scratch cluster): its manifest's verification.duration_ms is
// reported as a row of its own, and the base backup's time without it beside the bare one.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { isRoot } from '../src/activities/verifyServer/install';
import { freePort } from '../src/ports';
import { startPgCluster } from '../src/sample/pgCluster';
import { parseStoredName } from '../src/wal/layout';
import { ensureDatabase, fbbBin, MB, measure, median, query, type Sample } from './benchKit';
import { fbbRun, killServer, newestRow, pgCtlStart, pgCtlStop, startFbbUp, startLoad } from './bench-pitr-servers';

interface PitrArgs {
  scale: number;
  runs: number;
  loadSeconds: number;
  rate: number;
  partialSeconds: number;
  cacheDir: string;
  out: string;
}

function parsePitrArgs(argv: string[]): PitrArgs {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  return {
    scale: Number(get('scale', '200')),
    runs: Number(get('runs', '3')),
    loadSeconds: Number(get('load-seconds', '30')),
    rate: Number(get('rate', '50')),
    partialSeconds: Number(get('partial-seconds', '5')),
    cacheDir: get('cache-dir', path.join(os.tmpdir(), 'fbb-bench-cache')),
    out: get('out', '.bench/pitr.json'),
  };
}

/** What the RPO part saw. */
interface Rpo {
  acknowledged: number;
  restored: number;
  lost_commits: number;
  lost_seconds: number | null;
}

/** Runs the --pitr benchmark and prints its table. */
export async function runPitrBench(argv: string[]): Promise<void> {
  const args = parsePitrArgs(argv);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-bench-pitr-'));
  // Restored servers run as the postgres user when we are root: it must reach them.
  fs.chmodSync(work, 0o755);
  const cluster = await startPgCluster({ persistentDir: path.join(args.cacheDir, `scale-${args.scale}-pitr`), settings: ['fsync=on', 'full_page_writes=on', 'synchronous_commit=on'] });
  const bin = cluster.binDir;
  const backupDir = path.join(work, 'backups');
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/root',
    PGHOST: cluster.host,
    PGPORT: String(cluster.port),
    PGUSER: cluster.user,
    PGPASSWORD: cluster.password,
    PGDATABASE: 'bench',
    PG_BIN_DIR: bin,
    BACKUP_DIR: backupDir,
    TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
    FBB_STATE_DIR: path.join(work, 'state'),
    WAL_PARTIAL_UPLOAD_SECONDS: String(args.partialSeconds),
  };
  let up: { stop(): Promise<void> } | undefined;
  let failed = true;
  try {
    const size = await ensureDatabase(cluster, args.scale);
    process.stderr.write(`bench --pitr: sample database at scale ${args.scale}: ${(size / 1e9).toFixed(2)} GB\n`);
    // What an earlier, interrupted run left: its load table, and slots nobody consumes (they keep WAL).
    await query(cluster, 'bench', 'DROP TABLE IF EXISTS bench_rpo');
    await query(cluster, 'postgres', "SELECT count(pg_drop_replication_slot(slot_name))::text AS v FROM pg_replication_slots WHERE slot_name LIKE 'fbb_%' AND NOT active");
    await query(cluster, 'bench', 'CREATE TABLE bench_rpo (id int PRIMARY KEY, at timestamptz NOT NULL)');
    up = await startFbbUp(env, await freePort(), path.join(work, 'fbb-up.log'));
    await waitFor('the archive to stream', async () => (await query(cluster, 'postgres', "SELECT count(*)::text AS v FROM pg_replication_slots WHERE slot_name = 'fbb_bench' AND active")) === '1', 120_000);

    const samples: Record<string, Sample[]> = {};
    const add = (key: string, s: Sample) => (samples[key] ??= []).push(s);
    const bareTar = path.join(work, 'bare-base');
    let ours: { filename: string } | undefined;
    for (let run = 1; run <= args.runs; run++) {
      process.stderr.write(`bench --pitr: base backup ${run}/${args.runs}\n`);
      fs.rmSync(bareTar, { recursive: true, force: true });
      const bare = await measure(['bash', '-c', `"${bin}/pg_basebackup" -D "${bareTar}" -Ft -z -c fast --no-password`], env);
      add('bare base backup', { ...bare.sample, bytes: dirBytes(bareTar) });
      const measured = await measure([process.execPath, fbbBin(), 'basebackup', '--json'], env);
      const result = JSON.parse(measured.stdout) as { manifest: { filename: string; size_bytes: number; verification: { duration_ms: number } | null } };
      add('ours base backup', { ...measured.sample, bytes: result.manifest.size_bytes });
      const verifyS = (result.manifest.verification?.duration_ms ?? 0) / 1000;
      add('ours base backup: verification', { wall_s: verifyS, cpu_s: 0, tree_rss_mb: 0 });
      add('ours base backup: without verification', { ...measured.sample, wall_s: measured.sample.wall_s - verifyS });
      ours = result.manifest;
    }

    process.stderr.write(`bench --pitr: ${args.rate} commits/s for ${args.loadSeconds} s, then SIGKILL of the server\n`);
    const archiveDir = path.join(backupDir, 'wal', (await query(cluster, 'postgres', 'SELECT system_identifier::text AS v FROM pg_control_system()'))!);
    const load = startLoad(cluster, 'bench', args.rate);
    await new Promise((r) => setTimeout(r, args.loadSeconds * 1000));
    await killServer(cluster);
    const crashedAt = Date.now();
    const acked = load.acked();
    await load.stop();
    await waitFor('the partial copy made after the crash', () => Promise.resolve(newestPartialAt(archiveDir) > crashedAt), 120_000 + args.partialSeconds * 1000);
    await fbbRun(['wal', 'stop'], env);

    const plain = path.join(work, 'plain-wal');
    await gunzipArchive(archiveDir, plain);
    let rpo: Rpo | undefined;
    for (let run = 1; run <= args.runs; run++) {
      process.stderr.write(`bench --pitr: restore to latest ${run}/${args.runs}\n`);
      const bareDir = path.join(work, `bare-restored-${run}`);
      const sockets = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-bp-'));
      fs.chmodSync(sockets, 0o777);
      const owner = isRoot() ? `&& chown -R postgres "${bareDir}"` : '';
      const extract = `mkdir -m 700 "${bareDir}" && tar -xzf "${bareTar}/base.tar.gz" -C "${bareDir}" && mkdir -p -m 700 "${bareDir}/pg_wal" && tar -xzf "${bareTar}/pg_wal.tar.gz" -C "${bareDir}/pg_wal" && touch "${bareDir}/recovery.signal" ${owner}`;
      const bareExtract = await measure(['bash', '-c', extract], env);
      const bareStart = await measure(pgCtlStart(bin, bareDir, await freePort(), sockets, [`restore_command='cp ${plain}/%f %p'`, 'recovery_target_timeline=latest']), env);
      add('bare restore', { wall_s: bareExtract.sample.wall_s + bareStart.sample.wall_s, cpu_s: bareExtract.sample.cpu_s + bareStart.sample.cpu_s, tree_rss_mb: 0 });
      await pgCtlStop(bin, bareDir);
      fs.rmSync(bareDir, { recursive: true, force: true });

      const oursDir = path.join(work, `ours-restored-${run}`);
      const restored = await measure([process.execPath, fbbBin(), 'restore', '--to-time', 'latest', '--target-dir', oursDir, '--json'], env);
      const startPort = await freePort();
      const started = await measure(pgCtlStart(bin, oursDir, startPort, sockets), env);
      add('ours restore', { ...restored.sample, wall_s: restored.sample.wall_s + started.sample.wall_s });
      add('ours restore: fbb restore', restored.sample);
      // The recoverToDirectory activity's own time: the rest of fbb restore is the CLI, the workflow and the plan.
      add('ours restore: recovery activity', { wall_s: (JSON.parse(restored.stdout) as { duration_ms: number }).duration_ms / 1000, cpu_s: 0, tree_rss_mb: 0 });
      add('ours restore: pg_ctl start', started.sample);
      if (rpo === undefined) {
        const row = await newestRow(cluster, startPort, 'bench');
        rpo = { acknowledged: acked.id, restored: row.id, lost_commits: acked.id - row.id, lost_seconds: row.at === null ? null : (new Date(acked.at).getTime() - new Date(row.at).getTime()) / 1000 };
      }
      await pgCtlStop(bin, oursDir);
      fs.rmSync(oursDir, { recursive: true, force: true });
      fs.rmSync(sockets, { recursive: true, force: true });
    }

    const table = renderPitr(args, size, samples, rpo!, ours!.filename);
    process.stdout.write(`${table}\n`);
    fs.mkdirSync(path.dirname(args.out), { recursive: true });
    fs.writeFileSync(args.out, `${JSON.stringify({ scale: args.scale, database_bytes: size, cores: os.cpus().length, runs: args.runs, rate: args.rate, load_seconds: args.loadSeconds, partial_seconds: args.partialSeconds, rpo, samples }, null, 2)}\n`);
    fs.writeFileSync(args.out.replace(/\.json$/, '.md'), `${table}\n`);
    failed = false;
  } finally {
    await up?.stop().catch(() => undefined);
    // After the crash the server is down: the next run starts it (crash recovery, nothing lost: fsync is on).
    await cluster.stop().catch(() => undefined);
    // A failed run keeps its directory (archive, logs, restored directories) for a look.
    if (failed) process.stderr.write(`bench --pitr: failed; its files are kept in ${work}\n`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The results as a Markdown table with ratios ours / bare. */
function renderPitr(args: PitrArgs, size: number, samples: Record<string, Sample[]>, rpo: Rpo, filename: string): string {
  const med = (key: string, field: keyof Sample) => {
    const xs = (samples[key] ?? []).map((s) => s[field]).filter((x): x is number => typeof x === 'number');
    return xs.length > 0 ? median(xs) : undefined;
  };
  const range = (key: string) => {
    const xs = (samples[key] ?? []).map((s) => s.wall_s);
    return xs.length > 1 ? `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}` : '';
  };
  const f1 = (x: number | undefined) => (x === undefined ? '' : x.toFixed(1));
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '' : `${(a / b).toFixed(2)}×`);
  const mb = (key: string) => f1(med(key, 'bytes') === undefined ? undefined : med(key, 'bytes')! / MB);
  // CPU is that of the command's process tree: for ours the CLI only (the work runs in the worker of fbb up), so it is left out.
  const row = (key: string, what: string, ratioText: string) => `| ${what} | ${f1(med(key, 'wall_s'))} | ${range(key)} | ${key.startsWith('ours') ? '' : f1(med(key, 'cpu_s'))} | ${mb(key)} | ${ratioText} |`;
  const bareRestore = med('bare restore', 'wall_s');
  return [
    `point-in-time: sample database at scale ${args.scale}: ${(size / 1e9).toFixed(2)} GB on disk; ${args.runs} run(s) each, alternating; ${os.cpus().length} cores; server with fsync, full_page_writes, synchronous_commit on; WAL_PARTIAL_UPLOAD_SECONDS=${args.partialSeconds}`,
    '',
    '| what | wall s (median) | min–max | CPU s (bare) | output MB | ratio |',
    '| --- | --- | --- | --- | --- | --- |',
    row('bare base backup', 'bare: pg_basebackup -Ft -z -c fast (base.tar.gz + pg_wal.tar.gz)', ''),
    row('ours base backup', `ours: fbb basebackup, verified (${filename.replace(/_\d{8}_\d{6}/, '_…')}; WAL from the archive)`, `**${ratio(med('ours base backup', 'wall_s'), med('bare base backup', 'wall_s'))}** time, ${ratio(med('ours base backup', 'bytes'), med('bare base backup', 'bytes'))} size of bare`),
    row('ours base backup: verification', 'ours: of which the verification (scratch cluster: recovery, pg_amcheck, row counts)', `${ratio(med('ours base backup: verification', 'wall_s'), med('bare base backup', 'wall_s'))} of bare`),
    row('ours base backup: without verification', 'ours: fbb basebackup without its verification', `**${ratio(med('ours base backup: without verification', 'wall_s'), med('bare base backup', 'wall_s'))}** of bare`),
    row('bare restore', 'bare: tar -xzf (base + pg_wal) + WAL replay (restore_command cp from a plain directory) to a promoted server accepting connections', ''),
    row('ours restore', 'ours: fbb restore --to-time latest --target-dir, then pg_ctl start', `**${ratio(med('ours restore', 'wall_s'), bareRestore)}** of bare`),
    row('ours restore: fbb restore', 'ours: of which fbb restore (checksums, gunzip, WAL fetched on demand, recovery, promotion, clean stop)', `${ratio(med('ours restore: fbb restore', 'wall_s'), bareRestore)} of bare`),
    row('ours restore: recovery activity', 'ours: of which the recoverToDirectory activity (its duration_ms)', `${ratio(med('ours restore: recovery activity', 'wall_s'), bareRestore)} of bare`),
    row('ours restore: pg_ctl start', 'ours: of which pg_ctl start -w of the restored directory', ''),
    `| RPO: ${args.rate} commits/s for ${args.loadSeconds} s, server SIGKILLed, restore to latest | ${rpo.lost_seconds === null ? 'n/a' : rpo.lost_seconds.toFixed(1)} s lost | | | | ${rpo.acknowledged} commits acknowledged, ${rpo.restored} restored, **${rpo.lost_commits} lost** |`,
  ].join('\n');
}

/** Total size of the files in `dir`. */
function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

/** When the newest .partial copy in the archive was written (ms), 0 when there is none. */
function newestPartialAt(dir: string): number {
  return Math.max(0, ...fs.readdirSync(dir).filter((f) => parseStoredName(f)?.kind === 'partial').map((f) => fs.statSync(path.join(dir, f)).mtimeMs));
}

/** The archive as a plain WAL directory (what restore_command=cp reads): every file gunzipped, a partial under its segment's name. */
async function gunzipArchive(archiveDir: string, plain: string): Promise<void> {
  fs.mkdirSync(plain, { recursive: true, mode: 0o755 });
  for (const stored of fs.readdirSync(archiveDir)) {
    const file = parseStoredName(stored);
    if (file === undefined || file.encrypted) continue;
    const name = file.kind === 'history' ? `${file.name}.history` : file.name;
    // A complete segment wins over a partial copy of the same one.
    if (file.kind === 'partial' && fs.existsSync(path.join(archiveDir, `${file.name}.gz`))) continue;
    await pipeline(fs.createReadStream(path.join(archiveDir, stored)), createGunzip(), fs.createWriteStream(path.join(plain, name), { mode: 0o644 }));
  }
}

async function waitFor(what: string, check: () => Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`bench --pitr: gave up waiting for ${what} after ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
