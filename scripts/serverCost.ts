// What a command costs the database server itself (the benchmark's "production side"): CPU seconds of
// its processes and bytes they wrote, from /proc. Used by `npm run bench -- --verify-target worker,source`.
import fs from 'node:fs';
import path from 'node:path';

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ: 100 on Linux). */
const TICKS = 100;

/** The postmaster's pid, from its data directory. */
function postmasterPid(dataDir: string): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses); undefined when the process is gone. */
function statFields(pid: number): string[] | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The server's processes: the postmaster and its children (backends, the checkpointer, the WAL writer, ...). */
function serverPids(postmaster: number): number[] {
  const children = fs
    .readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => statFields(pid)?.[1] === String(postmaster));
  return [postmaster, ...children];
}

/** CPU seconds the server used so far: the postmaster's own and its reaped children's (cutime, cstime), plus its live children's. */
function cpuSeconds(postmaster: number): number {
  let ticks = 0;
  for (const pid of serverPids(postmaster)) {
    const f = statFields(pid);
    if (f === undefined) continue;
    // After the name: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14).
    ticks += Number(f[11]) + Number(f[12]) + (pid === postmaster ? Number(f[13]) + Number(f[14]) : 0);
  }
  return ticks / TICKS;
}

/** write_bytes of /proc/<pid>/io (bytes the process caused to be written to storage); undefined when gone. */
function writeBytes(pid: number): number | undefined {
  try {
    return Number(/^write_bytes: (\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  } catch {
    return undefined;
  }
}

/** The server's CPU seconds and written megabytes while `fn` ran (processes sampled every 200 ms; a backend that lived less than that is missed). */
export async function measureServer<T>(dataDir: string, fn: () => Promise<T>): Promise<{ value: T; cpu_s: number; written_mb: number }> {
  const postmaster = postmasterPid(dataDir);
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = () => {
    for (const pid of serverPids(postmaster)) {
      const bytes = writeBytes(pid);
      if (bytes === undefined) continue;
      if (!first.has(pid)) first.set(pid, bytes);
      last.set(pid, bytes);
    }
  };
  const cpuBefore = cpuSeconds(postmaster);
  sample();
  const timer = setInterval(sample, 200);
  try {
    const value = await fn();
    sample();
    let written = 0;
    for (const [pid, bytes] of last) written += bytes - first.get(pid)!;
    return { value, cpu_s: cpuSeconds(postmaster) - cpuBefore, written_mb: written / (1024 * 1024) };
  } finally {
    clearInterval(timer);
  }
}

/** One measured backup, as far as this table reads it. */
interface CostSample {
  wall_s: number;
  server_cpu_s?: number;
  server_written_mb?: number;
}

const median = (xs: (number | undefined)[]) => {
  const known = xs.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (known.length === 0) return undefined;
  const mid = Math.floor(known.length / 2);
  return known.length % 2 === 1 ? known[mid]! : (known[mid - 1]! + known[mid]!) / 2;
};

/**
 * The production-side table: for each "ours backup" key (a second target's keys end in " @<target>"),
 * the medians of the run's wall time, the database server's CPU seconds and the megabytes it wrote.
 */
export function renderServerCost(samples: Record<string, CostSample[]>, firstTarget: string): string {
  const f1 = (x: number | undefined) => (x === undefined ? '' : x.toFixed(1));
  const rows = Object.entries(samples)
    .filter(([key]) => key.includes(' ours backup '))
    .map(([key, list]) => `| ${key.replace(/ @\w+$/, '')}, VERIFY_TARGET=${/ @(\w+)$/.exec(key)?.[1] ?? firstTarget} | ${f1(median(list.map((s) => s.wall_s)))} | ${f1(median(list.map((s) => s.server_cpu_s)))} | ${f1(median(list.map((s) => s.server_written_mb)))} |`);
  return [
    '',
    "Production side: what each backup cost the database server itself (its processes, from /proc; the worker's own verification server is not counted)",
    '',
    '| what | wall s | server CPU s | server wrote MB |',
    '| --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
