import type { QueryDefinition, Workflow } from '@temporalio/common';
import { formatBytes } from '../format';
import type { StartedWorkflow } from './runner';

/** Polls a workflow's progress query (and its activities' heartbeats) into one updating line on a terminal. */
export function showProgress<P extends { step: string }>(
  started: Pick<StartedWorkflow<Workflow>, 'query' | 'pendingActivities'>,
  query: QueryDefinition<P>,
  out: NodeJS.WriteStream | NodeJS.WritableStream,
  label: (p: P) => string,
): () => void {
  const tty = 'isTTY' in out && out.isTTY === true;
  if (!tty) return () => undefined;
  let last = '';
  const tick = async () => {
    try {
      const [p, pending] = await Promise.all([started.query(query), started.pendingActivities()]);
      const bytes = pending.map((a) => (a.heartbeat as { bytes?: number } | undefined)?.bytes).find((b) => typeof b === 'number');
      const line = `${label(p)}${bytes === undefined ? '' : ` ${formatBytes(bytes)}`}`;
      if (line !== last) out.write(`\r\x1b[K${line}`);
      last = line;
    } catch {
      // The workflow may have just closed; the result tells the rest.
    }
  };
  const timer = setInterval(() => void tick(), 1_000);
  return () => {
    clearInterval(timer);
    if (last !== '') out.write('\r\x1b[K');
  };
}
