// Per-file times of a test run, from vitest's JSON report, slowest first:
//   npx vitest run --reporter=json --outputFile=.bench/test-times.json
//   npm run build && node dist/scripts/test-times.js .bench/test-times.json [--markdown]
import fs from 'node:fs';
import path from 'node:path';

/** What this script reads of vitest's JSON report (Jest's format). */
interface VitestReport {
  startTime?: number;
  numTotalTests?: number;
  testResults: {
    name: string;
    startTime?: number;
    endTime?: number;
    status?: string;
    assertionResults?: { status: string; duration?: number | null }[];
  }[];
}

/** One test file's row of the table. */
export interface FileTime {
  file: string;
  /** From the file's start to its end as vitest reports them (its hooks included). */
  seconds: number;
  /** The sum of its tests' own durations. */
  testSeconds: number;
  /** Tests that ran (passed or failed; skipped ones are not counted). */
  tests: number;
  failed: number;
}

/** The files of a report with their wall time (first test start to last test end), slowest first. */
export function fileTimes(report: VitestReport, root = process.cwd()): FileTime[] {
  return report.testResults
    .map((r) => {
      const results = (r.assertionResults ?? []).filter((a) => a.status === 'passed' || a.status === 'failed');
      const testSeconds = results.reduce((sum, a) => sum + (a.duration ?? 0), 0) / 1000;
      const wall = r.startTime !== undefined && r.endTime !== undefined ? (r.endTime - r.startTime) / 1000 : testSeconds;
      return { file: path.relative(root, r.name), seconds: wall, testSeconds, tests: results.length, failed: results.filter((a) => a.status === 'failed').length };
    })
    .sort((a, b) => b.seconds - a.seconds);
}

/** The rows as an aligned text table, or as Markdown with `markdown`, with a total line. */
export function formatTimes(rows: readonly FileTime[], markdown = false): string {
  const total = rows.reduce((sum, r) => sum + r.seconds, 0);
  const sum = (f: (r: FileTime) => number) => rows.reduce((s, r) => s + f(r), 0);
  const cells = [
    ['file', 'seconds', 'in tests', 'tests', 'failed'],
    ...rows.map((r) => [r.file, r.seconds.toFixed(1), r.testSeconds.toFixed(1), String(r.tests), String(r.failed)]),
    ['total (sum of files)', total.toFixed(1), sum((r) => r.testSeconds).toFixed(1), String(sum((r) => r.tests)), String(sum((r) => r.failed))],
  ];
  if (markdown) return cells.map((c, i) => `| ${c.join(' | ')} |${i === 0 ? '\n| --- | ---: | ---: | ---: | ---: |' : ''}`).join('\n');
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ')).join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--')) ?? '.bench/test-times.json';
  const report = JSON.parse(fs.readFileSync(file, 'utf8')) as VitestReport;
  const ends = report.testResults.flatMap((r) => (r.endTime === undefined ? [] : [r.endTime]));
  const wall = report.startTime !== undefined && ends.length > 0 ? `\nwhole run: ${((Math.max(...ends) - report.startTime) / 1000).toFixed(1)} s (servers, imports and files in parallel)\n` : '';
  process.stdout.write(`${formatTimes(fileTimes(report), args.includes('--markdown'))}\n${wall}`);
}
