// What each soak cycle does, from the seed alone: the operation, the fault and its instant, and the
// choices the operation needs. A cycle's plan depends only on (seed, cycle), so one cycle can be replayed.

/** The operations a cycle runs. */
export const OPERATIONS = ['backup', 'backup_s3', 'restore', 'restore_tenant', 'restore_table', 'drill', 'prune', 'pitr_restore', 'pitr_tenant'] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The faults a cycle injects: SIGKILL or SIGTERM of a worker, Temporal restarted, PostgreSQL crashed, sessions ended, BACKUP_DIR full, S3 down. */
export const FAULTS = ['worker', 'term', 'server', 'db', 'conn', 'disk', 's3'] as const;
export type Fault = (typeof FAULTS)[number] | 'none';

/** About each operation's length on a busy 2-core machine (ms), until the soak has measured it. */
export const TYPICAL_MS: Record<Operation, number> = { backup: 6_000, backup_s3: 7_000, restore: 12_000, restore_tenant: 12_000, restore_table: 10_000, drill: 6_000, prune: 6_000, pitr_restore: 9_000, pitr_tenant: 10_000 };

/** Where the workers keep their files: one BACKUP_DIR for all (an NFS mount), or one per worker host. */
export const DIR_MODES = ['shared', 'per-host'] as const;
export type DirMode = (typeof DIR_MODES)[number];

/** The directory mode of a whole run: as asked, or with "both" drawn from the seed (one mode per run, so a cycle replays under the seed alone). */
export function dirModeOf(seed: number, asked: DirMode | 'both'): DirMode {
  return asked === 'both' ? DIR_MODES[Math.floor(prng(seed ^ 0x5bd1e995)() * DIR_MODES.length)]! : asked;
}

/** Parses --dir-mode. */
export function parseDirMode(text: string): DirMode | 'both' {
  if (text === 'both' || (DIR_MODES as readonly string[]).includes(text)) return text as DirMode | 'both';
  throw new Error(`--dir-mode: expected shared, per-host or both, got "${text}"`);
}

/** Tables a table restore picks from: no other table references them (a referenced one is guarded and refused). */
export const RESTORABLE_TABLES = ['public.reminders', 'public.expenses'] as const;

/** One cycle's plan. */
export interface CyclePlan {
  cycle: number;
  op: Operation;
  fault: Fault;
  /** When the fault comes, as a fraction of the operation's length (soak.ts turns it into ms from measured lengths). */
  faultAt: number;
  /** Uniform [0, 1) draws for the choices made at run time (which backup, tenant, table, worker, sample). */
  pick: () => number;
}

/** mulberry32: a small seeded PRNG with good enough spread for picking. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The plan of `cycle` under `seed`, drawing the operation from `ops` and the fault from `faults`. */
export function planCycle(seed: number, cycle: number, faults: readonly Fault[], ops: readonly Operation[] = OPERATIONS): CyclePlan {
  const random = prng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(cycle + 1, 0x85ebca6b)) >>> 0);
  const op = ops[Math.floor(random() * ops.length)]!;
  const fault = faults[Math.floor(random() * faults.length)] ?? 'none';
  // A little past the end too: a fault between two runs is one the next run must cope with.
  const faultAt = random() * 1.1;
  return { cycle, op, fault, faultAt, pick: random };
}

/** Parses --faults ("worker,term,…", "none" for a run without faults). */
export function parseFaults(text: string): Fault[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (n !== 'none' && !(FAULTS as readonly string[]).includes(n)) throw new Error(`--faults: "${n}" is not one of ${FAULTS.join(', ')} or none`);
  }
  return names as Fault[];
}

/** Parses --ops ("backup,pitr_restore,…"): the operations cycles draw from. */
export function parseOps(text: string): Operation[] {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!(OPERATIONS as readonly string[]).includes(n)) throw new Error(`--ops: "${n}" is not one of ${OPERATIONS.join(', ')}`);
  if (names.length === 0) throw new Error('--ops: name at least one operation');
  return names as Operation[];
}
