// How a partial restore's plan and conflicts read, for the workflow's errors and the CLI; no I/O.
import type { PartialPlan } from './plan';

/** The named refusal's message: the conflicts, with example rows; nothing was changed. */
export function conflictMessage(plan: PartialPlan): string {
  const what = plan.kind === 'tenant' ? `tenant ${plan.target}` : `table ${plan.target}`;
  const lines = plan.conflicts.map((c) => `${c.table} ${c.kind} (${c.constraint}): ${c.detail}; e.g. ${c.examples.slice(0, 3).join(', ')}`);
  return `the restore of ${what} would harm rows it does not own, so it was refused and nothing was changed: ${lines.join('; ')}. Resolve these rows by hand (or restore the whole database), then run the restore again`;
}

/** The error type of a refused plan. */
export function conflictType(plan: PartialPlan): 'TenantRestoreConflict' | 'TableRestoreConflict' {
  return plan.kind === 'tenant' ? 'TenantRestoreConflict' : 'TableRestoreConflict';
}

/** The plan as a person reads it: per table, rows deleted / inserted / updated, conflicts, tables left alone. */
export function formatPlan(plan: PartialPlan): string {
  const head = ['table', 'delete', 'insert', 'update', 'unchanged', 'how its rows belong'];
  const rows = plan.tables.map((t) => [t.table, String(t.delete), String(t.insert), String(t.update), String(t.unchanged), t.via]);
  const total = (k: 'delete' | 'insert' | 'update' | 'unchanged') => String(plan.tables.reduce((n, t) => n + t[k], 0));
  rows.push(['total', total('delete'), total('insert'), total('update'), total('unchanged'), '']);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `  ${r.map((c, i) => (i >= 1 && i <= 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`.trimEnd();
  const out = [`plan for ${plan.kind} ${plan.target}:`, line(head), ...rows.map(line)];
  const moving = plan.sequences.filter((s) => s.moves);
  if (moving.length) out.push(`  sequences moved forward: ${moving.map((s) => `${s.sequence} ${s.live} → ${s.needed}`).join(', ')}`);
  const asText = plan.tables.filter((t) => t.compared_as_text?.length);
  if (asText.length) out.push(`  compared through their text (types without an ordering or equality of their own): ${asText.map((t) => `${t.table} ${t.compared_as_text!.join(', ')}`).join('; ')}`);
  out.push(`  left alone: ${plan.left_alone.length ? plan.left_alone.join(', ') : 'none'}`);
  if (plan.conflicts.length === 0) out.push('  conflicts: none');
  else {
    out.push(`  conflicts: ${plan.conflicts.length} (the restore refuses until they are resolved)`);
    for (const c of plan.conflicts) out.push(`    ${c.table} ${c.kind} (${c.constraint}): ${c.detail}; e.g. ${c.examples.join(', ')}`);
  }
  return out.join('\n');
}
