// The soak's write load, a process of its own: inserts a row into LOAD_TABLE every 200 ms and prints
// each acknowledged commit as "<note>\t<commit time, ms epoch, the server's clock>" (or "?" when the
// commit was acknowledged but its time could not be read), reconnecting a second after its session ends.
import pg from 'pg';
import { LOAD_TABLE } from './loadTable';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One session: inserts until it breaks. */
async function session(next: () => string): Promise<void> {
  const c = new pg.Client({ application_name: 'soak-load' });
  c.on('error', () => undefined);
  await c.connect();
  try {
    for (;;) {
      const note = next();
      const { rows } = await c.query<{ x: string }>(`INSERT INTO ${LOAD_TABLE} (note) VALUES ($1) RETURNING xmin::text AS x`, [note]);
      let at = '?';
      try {
        const t = await c.query<{ ms: string | null }>('SELECT (extract(epoch FROM pg_xact_commit_timestamp($1::xid)) * 1000)::text AS ms', [rows[0]!.x]);
        at = t.rows[0]?.ms ?? '?';
      } finally {
        process.stdout.write(`${note}\t${at}\n`);
      }
      await sleep(200);
    }
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  let n = 0;
  const next = () => `load ${process.pid}-${++n}`;
  for (;;) {
    await session(next).catch(() => undefined);
    await sleep(1000);
  }
}

process.once('SIGTERM', () => process.exit(0));
void main();
