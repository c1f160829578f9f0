// Which facts of a run go on its spans: an allow-list of keys from activity inputs and results
// (database, file name, sizes, counts, outcome). Anything not listed (a URL, a password, an age
// identity, settings) never becomes an attribute, whatever an activity returns later.

/** The allowed keys, and the attribute each becomes. */
const ALLOWED: Record<string, string> = {
  database: 'fbb.database',
  filename: 'fbb.file',
  backup_filename: 'fbb.file',
  backup_file: 'fbb.file',
  size_bytes: 'fbb.size_bytes',
  size_mb: 'fbb.size_mb',
  tables_backed_up: 'fbb.tables',
  tables_checked: 'fbb.tables_checked',
  total_rows: 'fbb.rows',
  rows_checked: 'fbb.rows_checked',
  backup_type: 'fbb.backup_type',
  type: 'fbb.backup_type',
  format: 'fbb.format',
  source: 'fbb.source',
  status: 'fbb.status',
};

/** A backup file's name, as an activity's plain string argument. */
const BACKUP_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]*\.(sql\.gz|sql\.zst|dump)(\.age)?$/;

/** The span attributes in `value` (an activity's argument or result): allowed keys with a string, number or boolean value. */
export function traceAttributes(value: unknown): Record<string, string | number | boolean> {
  if (typeof value === 'string') return BACKUP_FILE.test(value) ? { 'fbb.file': value } : {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return {};
  const attributes: Record<string, string | number | boolean> = {};
  for (const [key, v] of Object.entries(value)) {
    const name = ALLOWED[key];
    if (name === undefined || !['string', 'number', 'boolean'].includes(typeof v)) continue;
    if (name === 'fbb.file' && !(typeof v === 'string' && BACKUP_FILE.test(v))) continue;
    attributes[name] = v as string | number | boolean;
  }
  return attributes;
}
