// One table over several soak runs (seeds, directory modes): reads the files `npm run soak -- --tallies
// FILE` appended to, one JSON tally per cycle, and prints dir mode × fault × operation → cycles,
// violations, median time to recover, with the runs it counted.
//
//   node dist/scripts/soak-table.js tallies-1.jsonl tallies-2.jsonl …
import fs from 'node:fs';
import { renderTable, type Tally } from './soak/report';

function main(files: string[]): number {
  if (files.length === 0) {
    process.stderr.write('soak-table: expected one or more files written by `npm run soak -- --tallies FILE`, got none\n');
    return 2;
  }
  const tallies: Tally[] = [];
  const runs = new Map<number, number>();
  for (const file of files) {
    for (const [i, line] of fs.readFileSync(file, 'utf8').split('\n').entries()) {
      if (line.trim() === '') continue;
      let t: Tally & { seed: number };
      try {
        t = JSON.parse(line) as Tally & { seed: number };
      } catch {
        process.stderr.write(`soak-table: ${file}:${i + 1} is not a JSON tally (a run cut off mid-line?); skipped\n`);
        continue;
      }
      tallies.push(t);
      runs.set(t.seed, (runs.get(t.seed) ?? 0) + 1);
    }
  }
  process.stdout.write(`${renderTable(tallies)}\n\nseeds: ${[...runs].map(([seed, n]) => `${seed} (${n} cycles)`).join(', ')}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
