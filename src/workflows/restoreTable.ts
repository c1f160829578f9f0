// restoreTable: one table's rows back to a backup's moment, or loaded beside it under a new name.
import { parseTableRestoreInput, type TableRestoreInput } from '../partial/input';
import { runPartialRestore, type PartialRestoreResult } from './restoreTenant';
import { afterUpdatesAnswered } from './restore/updates';

/**
 * Without `as`: the table's rows replaced by the backup's with restoreTenant's safety (plan,
 * refusal on conflicts, pre-restore backup, confirmation, one verified transaction; tables
 * referencing it must stay unchanged). With `as`: the backup's rows in a new table beside it.
 */
export async function restoreTable(rawInput: TableRestoreInput | Record<string, unknown>): Promise<PartialRestoreResult> {
  const label = String((rawInput as { table?: unknown })?.table ?? '');
  return afterUpdatesAnswered(runPartialRestore('table', label, rawInput, () => {
    const input = parseTableRestoreInput(rawInput);
    return { input, target: { table: input.table } };
  }));
}
