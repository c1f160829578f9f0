// The soak's table: directory mode × fault type × operation → cycles, violations, median time to recover.
import type { DirMode, Fault, Operation } from './plan';

/** One finished cycle, as the table counts it. */
export interface Tally {
  /** The run's BACKUP_DIR mode: several runs' tallies can be put in one table. */
  dirMode: DirMode;
  fault: Fault;
  /** The cycle's operation, or the base backup the soak takes without a fault every few cycles. */
  op: Operation | 'basebackup';
  violations: number;
  /** ms from the fault to the run's end with the database answering; undefined for a cycle skipped. */
  recoverMs: number | undefined;
}

/** Rows sorted by directory mode, fault, then operation, with a total line. */
export function renderTable(tallies: Tally[]): string {
  const cells = new Map<string, Tally[]>();
  for (const t of tallies) {
    const key = `${t.dirMode}\t${t.fault}\t${t.op}`;
    cells.set(key, [...(cells.get(key) ?? []), t]);
  }
  const rows = [['dir mode', 'fault', 'operation', 'cycles', 'violations', 'median recover s']];
  for (const key of [...cells.keys()].sort()) {
    const list = cells.get(key)!;
    const [mode, fault, op] = key.split('\t');
    rows.push([mode!, fault!, op!, String(list.length), String(sum(list)), median(list)]);
  }
  rows.push(['all', 'all', 'all', String(tallies.length), String(sum(tallies)), median(tallies)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
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
