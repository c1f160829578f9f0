// The soak's table: fault type × operation → cycles, violations, median time to recover.
import type { Fault, Operation } from './plan';

/** One finished cycle, as the table counts it. */
export interface Tally {
  fault: Fault;
  op: Operation;
  violations: number;
  /** ms from the fault to the run's end with the database answering; undefined for a cycle skipped. */
  recoverMs: number | undefined;
}

/** Rows sorted by fault then operation, with a total line. */
export function renderTable(tallies: Tally[]): string {
  const cells = new Map<string, Tally[]>();
  for (const t of tallies) {
    const key = `${t.fault}\t${t.op}`;
    cells.set(key, [...(cells.get(key) ?? []), t]);
  }
  const rows = [['fault', 'operation', 'cycles', 'violations', 'median recover s']];
  for (const key of [...cells.keys()].sort()) {
    const list = cells.get(key)!;
    const [fault, op] = key.split('\t');
    rows.push([fault!, op!, String(list.length), String(sum(list)), median(list)]);
  }
  rows.push(['all', 'all', String(tallies.length), String(sum(tallies)), median(tallies)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

function sum(list: Tally[]): number {
  return list.reduce((n, t) => n + t.violations, 0);
}

function median(list: Tally[]): string {
  const times = list.map((t) => t.recoverMs).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
  if (times.length === 0) return '-';
  const mid = Math.floor(times.length / 2);
  const ms = times.length % 2 ? times[mid]! : (times[mid - 1]! + times[mid]!) / 2;
  return (ms / 1000).toFixed(1);
}
