// The invariants after a cycle, each checked from outside the program: SQL on the live cluster, the
// files in every host's BACKUP_DIR, the objects in S3, the workflows on the Temporal server, and `fbb list`.
import fs from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { createS3Client } from '../../src/storage/s3Client';
import type { CycleRun, KnownBackup } from './cycle';
import type { CyclePlan } from './plan';
import { checkArchive, checkLoad, type Quiet } from './pitr';
import { fbbEnv, runFbb, type WorkerPool, type WriteLoad } from './processes';
import type { Rig } from './rig';
import { differences, promised, readState, type State } from './state';

/** What the soak remembers between cycles. */
export interface Memory {
  /** Live state when each backup file was made. */
  states: Map<string, State>;
  /** Files `fbb list` offered as verified, with whether an S3 copy was listed. */
  verified: Map<string, KnownBackup>;
  /** Files already restored into a scratch database by the sampling check. */
  sampled: Set<string>;
  /** Leftovers (databases, files) seen after the previous cycle. */
  leftovers: Set<string>;
  /** Leftovers already reported: one left behind counts as one violation, not one per cycle it stays. */
  reported: Set<string>;
  /** Intervals over which the live state is known: the moments a point-in-time restore may go to. */
  quiet: Quiet[];
  /** The restorable window as `fbb list` last showed it. */
  window: { oldest: string; newest: string } | undefined;
  /** WAL segments already reported missing. */
  gaps: Set<string>;
}

/** A listed backup, as `fbb list --json` shows it. */
interface Listed {
  filename: string;
  state: string;
  locations: string[];
}

/** Reads the live state, retrying while the server recovers; undefined if it accepts no connection within a minute. */
export async function liveState(rig: Rig): Promise<State | undefined> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await rig.sql((c) => readState(c));
    } catch {
      if (Date.now() > deadline) return undefined;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Every invariant after `run`; the violations, each a sentence with its evidence. */
export async function checkCycle(context: { rig: Rig; plan: CyclePlan; run: CycleRun; before: State; rowsBefore: Set<string>; memory: Memory; load: WriteLoad; startedAt: number; pool: WorkerPool }): Promise<string[]> {
  const { rig, plan, run, before, memory } = context;
  const violations: string[] = [];
  const ok = run.status === 'COMPLETED';
  const after = await liveState(rig);
  if (after === undefined) return ['the live database accepts no connection a minute after the cycle'];

  // New backup files hold the state before the operation (a backup, or a restore's pre-restore backup).
  // A point-in-time restore's file holds the moment's state.
  const catalog = await listBackups(rig);
  if (catalog === undefined) return [...violations, '"fbb list" failed after the cycle: the next operation is blocked'];
  const listed = catalog.backups;
  memory.window = catalog.window;
  for (const b of listed) if (!memory.states.has(b.filename)) memory.states.set(b.filename, run.moment !== undefined && b.filename.includes('_pitr_') ? run.moment.quiet.state : before);

  // The live database: the state before, or the one the operation promised (the only one if it reported success).
  const backupState = run.moment?.quiet.state ?? (run.file === undefined ? undefined : memory.states.get(run.file));
  const kind = plan.op === 'pitr_restore' ? 'restore' : plan.op === 'pitr_tenant' ? 'restore_tenant' : plan.op;
  const promise = promised({ kind, tenant: run.tenant, table: run.table }, before, backupState);
  if (promise === undefined) violations.push(`no recorded state for backup ${run.file}`);
  else if (ok && differences(promise, after).length > 0) violations.push(`reported success but the live database is not what ${plan.op} promised: ${differences(promise, after).slice(0, 5).join('; ')}`);
  else if (!ok && differences(before, after).length > 0 && differences(promise, after).length > 0) {
    violations.push(`ended ${run.status} and the live database is neither the state before nor the promised one: ${differences(before, after).slice(0, 5).join('; ')}`);
  }

  if (run.moment !== undefined) violations.push(...(await checkLoad({ rig, load: context.load, at: run.moment.at, then: run.moment.quiet, rowsBefore: context.rowsBefore, startedAt: context.startedAt, whole: plan.op === 'pitr_restore', ok })));

  // A reported backup is there, verified, and (with upload) in S3 at the same size.
  if (ok && (plan.op === 'backup' || plan.op === 'backup_s3' || plan.op === 'prune')) {
    const filename = (run.result as { filename?: string }).filename ?? '';
    const entry = listed.find((b) => b.filename === filename);
    if (entry?.state !== 'verified') violations.push(`backup ${filename} reported made but "fbb list" shows it ${entry?.state ?? 'missing'}`);
    if (plan.op === 'backup_s3') violations.push(...(await checkS3Copy(rig, filename)));
  }

  // Nothing verified disappears: every file is inside retention.
  const now = new Map(listed.filter((b) => b.state === 'verified').map((b) => [b.filename, { filename: b.filename, uploaded: b.locations.includes('s3') }]));
  for (const f of memory.verified.keys()) if (!now.has(f)) violations.push(`verified backup ${f} is no longer listed as verified (${listed.find((b) => b.filename === f)?.state ?? 'gone'})`);
  memory.verified = now;

  // One in five verified files, not yet sampled, restored into a scratch database with the bare tools.
  for (const f of now.keys()) {
    if (memory.sampled.has(f) || plan.pick() >= 0.2 || localPath(rig, f) === undefined) continue;
    memory.sampled.add(f);
    violations.push(...(await restoresAsRecorded(rig, f, memory.states.get(f))));
  }

  violations.push(...(await staleLeftovers(rig, memory, ok, rig.hostDirs.length > 1 ? await cleanedOnHosts(rig, context.pool, run.workflowId) : undefined)));
  violations.push(...(await runningWorkflows(rig)));
  violations.push(...(await checkArchive(rig, memory.gaps)));
  if (/lock|already running|in progress/i.test(run.cli.stderr) && !ok) violations.push(`the operation was refused as blocked: ${lastLine(run.cli.stderr)}`);
  if (run.status === 'RUNNING') violations.push(`the run ${run.workflowId} did not end within the limit`);
  return violations;
}

/** Reads the restorable window again (a point-in-time restore picks its moment inside it); false when listing fails. */
export async function refreshWindow(rig: Rig, memory: Memory): Promise<boolean> {
  const catalog = await listBackups(rig);
  if (catalog !== undefined) memory.window = catalog.window;
  return catalog !== undefined;
}

/**
 * "fbb list --include-s3 --json" on a worker (the next operation is not blocked); per host, each worker
 * lists only its own directory, so the catalogue is then the union of "fbb list --local" on every host
 * (a file verified on any host counts), and the window the widest of theirs. Undefined when a listing fails.
 */
async function listBackups(rig: Rig): Promise<{ backups: Listed[]; window: Memory['window'] } | undefined> {
  const list = async (args: string[], host: number) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await runFbb(rig, ['list', '--include-s3', '--json', ...args], 120_000, host);
      if (r.exitCode === 0) return JSON.parse(r.stdout) as { backups: Listed[]; restorable_window?: { oldest: string; newest: string } };
      await new Promise((res) => setTimeout(res, 2000));
    }
    return undefined;
  };
  const onWorker = await list([], 0);
  if (onWorker === undefined) return undefined;
  if (rig.dirMode === 'shared') return { backups: onWorker.backups, window: onWorker.restorable_window };
  const hosts = await Promise.all(rig.hostDirs.map((_, host) => list(['--local'], host)));
  if (hosts.some((h) => h === undefined)) return undefined;
  const merged = new Map<string, Listed>();
  for (const b of hosts.flatMap((h) => h!.backups)) {
    const seen = merged.get(b.filename);
    merged.set(b.filename, seen === undefined || (seen.state !== 'verified' && b.state === 'verified') ? b : { ...seen, locations: [...new Set([...seen.locations, ...b.locations])] });
  }
  // A restore to a moment reads S3 here (--source s3), which holds every host's copies: the window runs from
  // the oldest base backup a host offers to the newest WAL any host's archive wrote.
  const windows = hosts.flatMap((h) => (h!.restorable_window ? [h!.restorable_window] : []));
  const newest = newestArchived(rig);
  const window = windows.length === 0 || newest === undefined ? undefined : { oldest: windows.map((w) => w.oldest).sort()[0]!, newest };
  return { backups: [...merged.values()], window };
}

/** When any host's WAL archive last wrote a file (ISO), as the restorable window counts it; undefined when none has. */
function newestArchived(rig: Rig): string | undefined {
  const times = rig.hostDirs.flatMap((d) => {
    const wal = path.join(d, 'wal');
    if (!fs.existsSync(wal)) return [];
    return fs.readdirSync(wal).flatMap((sysid) => fs.readdirSync(path.join(wal, sysid)).filter((f) => /^[0-9A-F]{24}(\.partial)?\.gz(\.age)?$/.test(f)).map((f) => fs.statSync(path.join(wal, sysid, f)).mtimeMs));
  });
  return times.length === 0 ? undefined : new Date(Math.max(...times)).toISOString();
}

/** The path of `filename` in the host directory that holds it; undefined when no host does (an S3-only copy). */
function localPath(rig: Rig, filename: string): string | undefined {
  const present = rig.hostDirs.map((d) => path.join(d, filename)).filter((f) => fs.existsSync(f));
  // Per host, another host may keep an unverified dump of the same name (its worker was lost mid-run): the verified one.
  const verified = (f: string) => {
    try {
      return (JSON.parse(fs.readFileSync(`${f}.manifest.json`, 'utf8')) as { status?: string }).status === 'verified';
    } catch {
      return false;
    }
  };
  return present.find(verified) ?? present[0];
}

/** The uploaded copy of `filename` is in S3 with the local file's size (asked of s3rver itself, not through the switch). */
async function checkS3Copy(rig: Rig, filename: string): Promise<string[]> {
  const s3 = createS3Client({ bucket: rig.s3.bucket, prefix: 'soak/', endpoint: rig.s3.endpoint, region: rig.s3.region, forcePathStyle: true, partSizeBytes: 5 << 20 });
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: rig.s3.bucket, Key: `soak/${filename}` }));
    // Per host, a worker lost mid-dump keeps its own (unverified) dump of the same name while another
    // host dumps again and uploads that one: the uploaded copy is one host's file, not every host's.
    const locals = rig.hostDirs.map((d) => path.join(d, filename)).filter((f) => fs.existsSync(f)).map((f) => fs.statSync(f).size);
    if (locals.length === 0) locals.push(fs.statSync(path.join(rig.hostDirs[0]!, filename)).size);
    return locals.includes(head.ContentLength ?? -1) ? [] : [`S3 copy of ${filename} has ${head.ContentLength} bytes, the local file${locals.length > 1 ? 's' : ''} ${locals.join(', ')}`];
  } catch (err) {
    return [`backup ${filename} reported uploaded but its S3 copy cannot be read: ${String(err)}`];
  } finally {
    s3.destroy();
  }
}

/** Restores `filename` with gunzip | psql into a scratch database and compares its state with the one recorded when it was made. */
async function restoresAsRecorded(rig: Rig, filename: string, recorded: State | undefined): Promise<string[]> {
  const scratch = 'soak_sample_check';
  await rig.sql((c) => c.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`), 'postgres');
  await rig.sql((c) => c.query(`CREATE DATABASE ${scratch}`), 'postgres');
  try {
    const file = localPath(rig, filename)!;
    const psql = path.join(rig.pg.binDir, 'psql');
    const r = await execa('bash', ['-o', 'pipefail', '-c', `gzip -dc "$1" | "$2" -X -q -v ON_ERROR_STOP=1 -o /dev/null`, 'restore', file, psql], {
      env: { ...fbbEnv(rig), PGDATABASE: scratch },
      extendEnv: false,
      reject: false,
    });
    if (r.exitCode !== 0) return [`verified backup ${filename} does not restore with gunzip | psql: ${lastLine(String(r.stderr))}`];
    if (recorded === undefined) return [];
    const diff = differences(recorded, await rig.sql((c) => readState(c), scratch));
    return diff.length === 0 ? [] : [`verified backup ${filename} restores to other data than the live database held when it was made: ${diff.slice(0, 5).join('; ')}`];
  } finally {
    await rig.sql((c) => c.query(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`), 'postgres');
  }
}

/** The activities that sweep leftovers in BACKUP_DIR (cleanLeftovers, under the database's lock); a drill sweeps only drills' directories. */
const SWEEPERS = new Set(['acquireBackupLock', 'cleanBeforeRun']);
const DRILL_SWEEPERS = new Set([...SWEEPERS, 'drillBackup']);

/**
 * The hosts (indexes of rig.hostDirs) whose BACKUP_DIR a sweep of run `workflowId` or its children (a
 * restore's pre-restore backup) went through: the workers that ran those activities, by the pid in
 * their identity (pid@host). With a BACKUP_DIR per host, a leftover file is only in reach of a run on its host.
 */
async function cleanedOnHosts(rig: Rig, pool: WorkerPool, workflowId: string): Promise<{ all: Set<number>; drills: Set<number> }> {
  const client = await rig.client();
  const hosts = { all: new Set<number>(), drills: new Set<number>() };
  const visit = async (id: string, depth: number) => {
    const history = await client.workflow.getHandle(id).fetchHistory().catch(() => undefined);
    const scheduled = new Map<string, string>();
    for (const e of history?.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s?.activityType?.name) scheduled.set(String(e.eventId), s.activityType.name);
      const started = e.activityTaskStartedEventAttributes;
      const type = started ? (scheduled.get(String(started.scheduledEventId)) ?? '') : '';
      if (started && DRILL_SWEEPERS.has(type)) {
        const host = pool.hostOfPid.get(Number(/^(\d+)@/.exec(started.identity ?? '')?.[1]));
        if (host !== undefined) hosts.drills.add(host);
        if (host !== undefined && SWEEPERS.has(type)) hosts.all.add(host);
      }
      const child = e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child && depth < 2 && !child.startsWith('fbb-lock-')) await visit(child, depth + 1);
    }
  };
  await visit(workflowId, 0);
  return hosts;
}

/**
 * Leftovers seen after the previous cycle that are still there after this one's completed operation;
 * with a BACKUP_DIR per host (`cleanedHosts`), a file in a host's directory only once a sweep of the
 * operation ran on that host (databases are on the one server, in reach of every host's sweep).
 */
async function staleLeftovers(rig: Rig, memory: Memory, completed: boolean, cleanedHosts?: { all: Set<number>; drills: Set<number> }): Promise<string[]> {
  const { rows } = await rig.sql(
    (c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE '%\\_restoring\\_%' OR datname LIKE 'fbb\\_verify\\_%' OR datname LIKE 'fbb\\_drill\\_%'"),
    'postgres',
  );
  // The WAL archive's and base backups' folders, and its spool, are the archive's own (checked by checkArchive).
  const own = (f: string) => /\.(sql\.gz|sql\.zst|dump)(\.manifest\.json)?$/.test(f) || f.startsWith('.soak-') || ['wal', 'base', '.wal-spool'].includes(f) || /^host-\d+$/.test(f);
  const files = rig.hostDirs.flatMap((d, i) => fs.readdirSync(d).filter((f) => !own(f)).map((f) => (rig.hostDirs.length > 1 ? `host-${i}/${f}` : f)));
  const now = new Set([...rows.map((r) => `database ${r.datname}`), ...files.map((f) => `file ${f}`)]);
  const inReach = (l: string) => {
    const host = /^file host-(\d+)\/(.*)$/.exec(l);
    return cleanedHosts === undefined || host === null || (host[2]!.startsWith('.fbb_drill_') ? cleanedHosts.drills : cleanedHosts.all).has(Number(host[1]));
  };
  const stale = completed ? [...now].filter((l) => memory.leftovers.has(l) && !memory.reported.has(l) && inReach(l)) : [];
  memory.leftovers = now;
  for (const l of stale) memory.reported.add(l);
  return stale.map((l) => `${l} is left behind after the next completed operation`);
}

/** Workflows still Running on the server half a minute after the cycle's run ended (the WAL archive runs for good: checkArchive). */
async function runningWorkflows(rig: Rig): Promise<string[]> {
  const client = await rig.client();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const running: string[] = [];
    for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running" AND WorkflowType != "archiveWal"' })) running.push(`${w.workflowId} (${w.type})`);
    if (running.length === 0) return [];
    if (Date.now() > deadline) {
      const details = await Promise.all(running.map(async (r) => {
        const d = await client.workflow.getHandle(r.split(' ')[0]!).describe().catch(() => undefined);
        return `${r}: ${d?.raw.pendingActivities?.length ?? 0} pending activities, ${d?.raw.pendingChildren?.length ?? 0} children`;
      }));
      return [`workflows still Running after the cycle: ${details.join('; ')}`];
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').slice(-1)[0] ?? '';
}

