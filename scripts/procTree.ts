// Peak memory of a process and of its whole tree, sampled from /proc (Linux only; the benchmark's).
import fs from 'node:fs';

/** Resident set size in bytes of every live process, with its parent. */
function snapshot(): Map<number, { ppid: number; rss: number }> {
  const pageSize = 4096;
  const procs = new Map<number, { ppid: number; rss: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which may contain spaces and parentheses.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      procs.set(Number(entry), { ppid: Number(fields[1]), rss: Number(fields[21]) * pageSize });
    } catch {
      // The process ended between readdir and read.
    }
  }
  return procs;
}

/** What a sampler saw: peak RSS of one process, and peak of the sum over it and its descendants. */
export interface PeakMemory {
  /** Peak RSS of the process `pick` chose (for the benchmark: the node process). */
  selfBytes: number;
  /** Peak of the summed RSS of every descendant of the root (not the root itself). */
  treeBytes: number;
}

/**
 * Samples the descendants of `rootPid` every `ms` until stopped. `pick` chooses which descendant
 * counts as "self" (by pid and command line), e.g. the first node process.
 */
export function sampleTree(rootPid: number, pick: (cmdline: string) => boolean, ms = 100): { stop(): PeakMemory } {
  const peak: PeakMemory = { selfBytes: 0, treeBytes: 0 };
  let selfPid: number | undefined;
  const tick = () => {
    const procs = snapshot();
    const children = new Map<number, number[]>();
    for (const [pid, p] of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), pid]);
    let tree = 0;
    const stack = [...(children.get(rootPid) ?? [])];
    while (stack.length > 0) {
      const pid = stack.pop()!;
      const p = procs.get(pid);
      if (p === undefined) continue;
      tree += p.rss;
      if (selfPid === undefined) {
        try {
          if (pick(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '))) selfPid = pid;
        } catch {
          // Gone already.
        }
      }
      if (pid === selfPid) peak.selfBytes = Math.max(peak.selfBytes, p.rss);
      stack.push(...(children.get(pid) ?? []));
    }
    peak.treeBytes = Math.max(peak.treeBytes, tree);
  };
  const timer = setInterval(tick, ms);
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}
