// Numbers as people read them, for the CLI's output and the doctor's report.

/** 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** The last `n` non-empty lines of a program's output, joined with " | ", for one-line error messages. */
export function lastLines(text: unknown, n: number): string {
  return String(text ?? '').trim().split('\n').slice(-n).join(' | ');
}
