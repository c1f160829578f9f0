import { Context } from '@temporalio/activity';
import type { Config } from '../../config';
import { connect } from '../db';
import { databaseUnreachable } from '../failures';

/** One line in system_logs, as the guide's monitoring section expects (`source = 'backup'`). */
export interface LogEntry {
  level: 'info' | 'error';
  message: string;
  details: Record<string, unknown>;
  /** system_logs.source: 'backup' unless said otherwise ('restore_drill' for drills). */
  source?: 'backup' | 'restore_drill';
}

/**
 * Writes the entry into the database's system_logs table when it has one with the columns
 * level, source, message and details; a missing table is not an error. Returns whether a row was written.
 */
export async function recordInSystemLogs(config: Config, entry: LogEntry): Promise<boolean> {
  const client = await connect(config.database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    const { rows } = await client.query<{ column_name: string }>(
      "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'system_logs'",
    );
    const columns = new Set(rows.map((r) => r.column_name));
    if (columns.size === 0) return false;
    const needed = ['level', 'source', 'message', 'details'];
    const missing = needed.filter((c) => !columns.has(c));
    if (missing.length > 0) {
      Context.current().log.warn('system_logs has no column(s) for the backup record; nothing written', { missing });
      return false;
    }
    await client.query('INSERT INTO system_logs (level, source, message, details) VALUES ($1, $2, $3, $4)', [entry.level, entry.source ?? 'backup', entry.message, JSON.stringify(entry.details)]);
    return true;
  } finally {
    await client.end().catch(() => undefined);
  }
}
