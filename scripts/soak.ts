// `npm run soak`: a randomized kill soak. Real servers (PostgreSQL with the sample database and a
// steady write load, s3rver, a Temporal dev server) and two or three worker processes; each cycle
// runs one operation through the real CLI and injects one fault at a random instant, then checks
// every invariant from outside (scripts/soak/invariants.ts).
//
//   npm run soak -- [--cycles 20] [--seed S] [--minutes M] [--faults worker,term,server,db,conn,disk,s3]
//                   [--dir-mode shared|per-host|both] [--ops backup,pitr_restore,…]
//                   [--from-cycle K] [--fault-at-ms MS] [--workers 3] [--scale 1] [--stop-on-violation]
//                   [--tallies FILE]
//
// --tallies appends each cycle's tally to FILE as a JSON line; scripts/soak-table.ts puts several
// runs' files (seeds, modes) into one table.
//
// --dir-mode: one BACKUP_DIR shared by every worker, or one per worker host; "both" (the default)
// draws the mode from the seed, once for the whole run. The WAL archive runs throughout, with a
// base backup before the first cycle and every BASE_BACKUP_EVERY cycles, for the point-in-time restores
// (the older ones and their WAL trimmed from the tmpfs then: scripts/soak/trim.ts).
//
// The seed fixes every cycle's operation, fault, instant (a fraction of the operation's median measured
// length) and choices; a violation prints the line that replays its cycle (--seed S --from-cycle K
// --fault-at-ms MS, the instant it had). Exits 1 when any invariant was violated.
import fs from 'node:fs';
import path from 'node:path';
import { dirModeOf, parseDirMode, parseFaults, parseOps, planCycle, FAULTS, OPERATIONS, TYPICAL_MS, type DirMode, type Fault, type Operation } from './soak/plan';
import { baseBackup, loadRows, pickMoment, startArchive } from './soak/pitr';
import { trimArchive } from './soak/trim';
import { operationArgs, runCycle } from './soak/cycle';
import { checkCycle, liveState, refreshWindow, type Memory } from './soak/invariants';
import { runFbb, WorkerPool, WriteLoad } from './soak/processes';
import { renderTable, type Tally } from './soak/report';
import { BACKUP_FS_MB_PER_HOST, startRig, type Rig } from './soak/rig';
import { mutate } from './soak/state';

interface Args {
  cycles: number;
  seed: number;
  minutes: number | undefined;
  faults: Fault[];
  ops: Operation[];
  dirMode: DirMode | 'both';
  fromCycle: number;
  workers: number;
  scale: number;
  stopOnViolation: boolean;
  /** The fault's instant in ms after the operation starts, instead of the planned fraction of its measured length (a replay). */
  faultAtMs: number | undefined;
  /** Where each cycle's tally is appended as a JSON line, for a table over several runs. */
  tallies: string | undefined;
}

/** The options that take a value, and the flags. */
const VALUED = ['cycles', 'seed', 'minutes', 'faults', 'ops', 'dir-mode', 'from-cycle', 'workers', 'scale', 'fault-at-ms', 'tallies'];
const FLAGS = ['stop-on-violation'];

function parseArgs(argv: string[]): Args {
  // An option we do not know (--help included) says so and starts nothing: a soak is minutes of servers.
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    if (VALUED.includes(name)) i++;
    else if (!FLAGS.includes(name)) throw new Error(`"${argv[i]}" is not an option of the soak; usage (scripts/soak.ts): npm run soak -- [--cycles N] [--seed S] [--minutes M] [--faults ${FAULTS.join(',')}] [--ops ${OPERATIONS.join(',')}] [--dir-mode shared|per-host|both] [--from-cycle K --fault-at-ms MS] [--workers 2|3] [--scale N] [--stop-on-violation] [--tallies FILE]`);
  }
  const get = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = get(name);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name}: expected an integer from ${min} to ${max}, got "${raw}"`);
    return n;
  };
  const minutes = get('minutes');
  return {
    cycles: int('cycles', minutes === undefined ? 20 : 1_000_000, 1, 1_000_000),
    seed: int('seed', Date.now() % 1_000_000, 0, 2 ** 31 - 1),
    minutes: minutes === undefined ? undefined : int('minutes', 0, 1, 10_000),
    faults: parseFaults(get('faults') ?? FAULTS.join(',')),
    ops: parseOps(get('ops') ?? OPERATIONS.join(',')),
    dirMode: parseDirMode(get('dir-mode') ?? 'both'),
    fromCycle: int('from-cycle', 1, 1, 1_000_000),
    workers: int('workers', 3, 2, 3),
    scale: int('scale', 1, 1, 50),
    stopOnViolation: argv.includes('--stop-on-violation'),
    tallies: get('tallies'),
    faultAtMs: get('fault-at-ms') === undefined ? undefined : int('fault-at-ms', 0, 0, 3_600_000),
  };
}

const log = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    return 2;
  }
  const dirMode = dirModeOf(args.seed, args.dirMode);
  const replay = (k: number, atMs: number) =>
    `npm run soak -- --seed ${args.seed} --from-cycle ${k} --cycles 1 --fault-at-ms ${atMs} --faults ${args.faults.join(',')} --ops ${args.ops.join(',')} --dir-mode ${dirMode} --workers ${args.workers} --scale ${args.scale}`;
  const lengths = new Map<Operation, number[]>();
  const typical = (op: Operation) => median(lengths.get(op) ?? []) ?? TYPICAL_MS[op];
  log(`soak: seed ${args.seed}, cycles ${args.fromCycle}..${args.fromCycle + args.cycles - 1}${args.minutes ? ` (at most ${args.minutes} min)` : ''}, faults ${args.faults.join(',')}, ${args.workers} workers, BACKUP_DIR ${dirMode}${args.dirMode === 'both' ? ' (drawn from the seed)' : ''}, scale ${args.scale}`);
  const started = Date.now();
  const rig = await startRig({ scale: args.scale, dirMode, hosts: args.workers });
  process.env.AWS_ACCESS_KEY_ID = rig.s3.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = rig.s3.secretAccessKey;
  const pool = new WorkerPool(rig, args.workers);
  const load = new WriteLoad(rig);
  const tallies: Tally[] = [];
  const count = (t: Tally, cycle: number) => {
    tallies.push(t);
    if (args.tallies !== undefined) fs.appendFileSync(args.tallies, `${JSON.stringify({ seed: args.seed, cycle, ...t })}\n`);
  };
  let firstFailure: { cycle: number; atMs: number } | undefined;
  const stop = async (keep: boolean) => {
    log(`soak: open multipart uploads left in s3rver (it has no AbortMultipartUpload, so these are information, not violations): ${openMultipartUploads(rig)}`);
    await load.stop();
    await pool.stop();
    if (keep) log(`soak: servers stopped; worker logs kept in ${rig.work}`);
    await rig.stop({ keep });
  };
  // Interrupted, terminated, or its terminal gone: the servers, the tmpfs and the load go with it.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) process.once(signal, () => void stop(false).finally(() => process.exit(code)));
  // A closed stdout (piped into head) is not worth a crash that leaves every server running.
  process.stdout.on('error', () => undefined);
  try {
    pool.refill();
    await load.start();
    log(`soak: servers up in ${((Date.now() - started) / 1000).toFixed(0)} s (BACKUP_DIR on ${rig.tmpfs ? `a ${BACKUP_FS_MB_PER_HOST * rig.hostDirs.length} MB tmpfs` : 'the root filesystem: the disk fault is a no-op'}); first backup, the WAL archive and a base backup`);
    const memory: Memory = { states: new Map(), verified: new Map(), sampled: new Set(), leftovers: new Set(), reported: new Set(), quiet: [], window: undefined, gaps: new Set() };
    await firstBackup(rig, memory);
    await startArchive(rig);
    const setup = await baseBackup(rig);
    if (setup !== undefined) {
      log(`setup: VIOLATION: ${setup}`);
      firstFailure ??= { cycle: args.fromCycle, atMs: 0 };
    }
    // The first moment a point-in-time restore may go to: after the base backup, before cycle 1 changes anything.
    const settled = Date.now();
    const state = await liveState(rig);
    memory.quiet.push({ from: settled, state: state!, rows: await loadRows(rig), to: Date.now() });
    for (let k = args.fromCycle; k < args.fromCycle + args.cycles; k++) {
      if (args.minutes !== undefined && Date.now() - started > args.minutes * 60_000) break;
      const plan = planCycle(args.seed, k, args.faults, args.ops);
      const based = k % BASE_BACKUP_EVERY === 0 ? await baseBackup(rig) : undefined;
      if (k % BASE_BACKUP_EVERY === 0 && based === undefined) await trimArchive(rig);
      if (based !== undefined) {
        log(`cycle ${k}: VIOLATION before the operation: ${based}`);
        count({ dirMode, fault: 'none', op: 'basebackup', violations: 1, recoverMs: undefined }, k);
        firstFailure ??= { cycle: k, atMs: 0 };
      }
      await rig.sql((c) => mutate(c, k));
      const mutated = Date.now();
      const before = await liveState(rig);
      if (before === undefined) throw new Error(`cycle ${k}: the live database accepts no connection before the operation`);
      const rowsBefore = await loadRows(rig);
      const tenants = (await rig.sql((c) => c.query<{ id: string }>('SELECT id::text FROM tenants ORDER BY id'))).rows.map((r) => r.id);
      if (plan.op.startsWith('pitr_')) await refreshWindow(rig, memory);
      const moment = () => pickMoment(memory.quiet, memory.window, plan.pick);
      const op = operationArgs(plan, { backups: [...memory.verified.values()], tenants, workflowId: `soak-${args.seed}-${k}-${plan.op}`, moment, perHost: dirMode === 'per-host' });
      memory.quiet = [...memory.quiet, { from: mutated, to: Date.now(), state: before, rows: rowsBefore }].slice(-50);
      if (op === undefined) {
        log(`cycle ${k}: ${plan.op}: nothing to restore yet, skipped`);
        continue;
      }
      const cycleStart = Date.now();
      const faultAtMs = args.faultAtMs ?? Math.round(plan.faultAt * typical(plan.op));
      const run = await runCycle(plan, op, { rig, pool, faultAtMs });
      if (run.status === 'COMPLETED' && (run.injected === undefined || run.injected.at > run.endedAt)) lengths.set(plan.op, [...(lengths.get(plan.op) ?? []), run.endedAt - cycleStart]);
      const violations = await checkCycle({ rig, plan, run, before, rowsBefore, memory, load, startedAt: cycleStart, pool });
      const injectedAt = run.injected?.at;
      const recoverMs = injectedAt !== undefined && injectedAt <= run.endedAt ? run.endedAt - injectedAt : undefined;
      count({ dirMode, fault: plan.fault, op: plan.op, violations: violations.length, recoverMs }, k);
      const to = op.moment === undefined ? '' : ` to ${new Date(op.moment.at).toISOString()} (window ${memory.window?.oldest} to ${memory.window?.newest})`;
      log(
        `cycle ${k}: ${plan.op}${to} × ${plan.fault} at ${(faultAtMs / 1000).toFixed(1)} s (${run.injected?.what ?? 'not injected'}) → ${run.status} after ${((run.endedAt - cycleStart) / 1000).toFixed(1)} s, ` +
          `cli exit ${run.cli.exitCode}, cycle ${((Date.now() - cycleStart) / 1000).toFixed(0)} s${violations.length ? `, ${violations.length} VIOLATION(S)` : ''}`,
      );
      if (run.status !== 'COMPLETED') log(`  why: ${(run.result as { error?: { message?: string } } | undefined)?.error?.message ?? why(run.cli.stderr)}`);
      if (violations.length > 0) {
        for (const v of violations) log(`  violation: ${v}`);
        log(`  cli stderr: ${run.cli.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        log(`  replay: ${replay(k, faultAtMs)}`);
        firstFailure ??= { cycle: k, atMs: faultAtMs };
        if (args.stopOnViolation) break;
      }
    }
  } finally {
    await stop(firstFailure !== undefined);
  }
  log(`\n${renderTable(tallies)}\n`);
  log(`soak: ${tallies.length} cycles in ${((Date.now() - started) / 60_000).toFixed(1)} min, seed ${args.seed}`);
  if (firstFailure === undefined) return 0;
  log(`soak: first violation in cycle ${firstFailure.cycle}; replay it with: ${replay(firstFailure.cycle, firstFailure.atMs)}`);
  return 1;
}

/** Every this many cycles a new base backup (without a fault), so the restorable window has more than one. */
const BASE_BACKUP_EVERY = 6;

/** Multipart uploads s3rver still holds (its data directory's <bucket>/._S3rver_uploads/<id>). */
function openMultipartUploads(rig: Rig): number {
  const dir = path.join(rig.s3.dataDir, rig.s3.bucket, '._S3rver_uploads');
  return fs.existsSync(dir) ? fs.readdirSync(dir).length : 0;
}

/** The line of a failed run's stderr that says why (its "failed:" line), else its last. */
function why(stderr: string): string {
  const lines = stderr.trim().split('\n');
  return (lines.filter((l) => /failed|error/i.test(l)).at(-1) ?? lines.at(-1) ?? '').slice(0, 300);
}

function median(list: number[]): number | undefined {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
}

/** A backup before the first cycle, without a fault, so restores have a file from the start. */
async function firstBackup(rig: Rig, memory: Memory): Promise<void> {
  const state = await liveState(rig);
  const r = await runFbb(rig, ['backup', '--no-cleanup', '--json'], 300_000);
  if (r.exitCode !== 0) throw new Error(`the first backup failed (exit ${r.exitCode}):\n${r.stderr}`);
  const { filename } = JSON.parse(r.stdout) as { filename: string };
  memory.states.set(filename, state!);
  memory.verified.set(filename, { filename, uploaded: false });
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
