// Serves the archived WAL to a recovering server one file at a time, as it asks: restore_command is a
// script holding only paths (no key, no credential) that drops "<file>.want" into a spool directory and
// waits; the worker answers with the file (checked against its sidecar, decrypted, gunzipped), or
// "<file>.absent" (PostgreSQL then tries another timeline or ends recovery), or "<file>.failed" (damaged
// or missing inside the range: the script exits 126, which makes PostgreSQL stop recovery instead of
// promoting early). It prefetches the next segments so replay does not wait, and the spool never holds
// more than `window` WAL files: the script moves each one out as PostgreSQL takes it.
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { segmentName, walDir } from '../../basebackup/naming';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { parseSpoolName, segmentNumber } from '../../wal/layout';
import { fetchWalFile, listArchivedWal } from './archive';
import type { WalRange } from './plan';
import { serverUserIds } from './serverUser';

/** What the feeder did: files served (prefetched ones included) and the most WAL files the spool held at once. */
export interface WalFeedStats {
  files: number;
  spool_max: number;
}

/** A running feeder: the restore_command to give the server, the failure it ran into, and stop(). */
export interface WalFeeder {
  restoreCommand: string;
  /** The error of a file PostgreSQL asked for and could not get (damaged, missing, wrong key): why recovery stopped. */
  failure(): Error | undefined;
  stats(): WalFeedStats;
  stop(): Promise<void>;
}

/** Segments fetched ahead of the one PostgreSQL asked for, the asked one included: the spool's bound. */
export const WAL_PREFETCH_WINDOW = 4;

const MARKERS = /\.(want|absent|failed)$/;
type Answer = { kind: 'file'; stored: string } | { kind: 'absent' } | { kind: 'missing' };

/** Starts serving `range` of server `sysid` from BACKUP_DIR through `<dir>/wal` and `<dir>/restore-wal.sh`. */
export async function startWalFeeder(config: Config, opts: { sysid: string; range: WalRange; segmentBytes: number; dir: string; window?: number }): Promise<WalFeeder> {
  const window = Math.max(1, opts.window ?? WAL_PREFETCH_WINDOW);
  const spool = path.join(opts.dir, 'wal');
  await fs.mkdir(spool, { recursive: true, mode: 0o700 });
  const owner = await serverUserIds();
  if (owner !== undefined) await fs.chown(spool, owner.uid, owner.gid);
  const script = path.join(opts.dir, 'restore-wal.sh');
  await fs.writeFile(script, restoreScript(spool, process.pid), { mode: 0o755 });
  const resolve = await answerer(config, opts);
  const last = segmentNumber(opts.range.last, opts.segmentBytes).number;
  const stats: WalFeedStats = { files: 0, spool_max: 0 };
  let failure: Error | undefined;
  let stopped = false;
  /** Where prefetching goes on: the timeline, the segment asked for last, the next one to fetch. */
  let ahead: { timeline: number; wanted: bigint; next: bigint } | undefined;
  const skip = new Set<string>();

  /** A spooled file's segment number; -1 for a history file (fetched ahead never, dropped first). */
  const order = (name: string) => (parseSpoolName(name)?.kind === 'segment' ? segmentNumber(name, opts.segmentBytes).number : -1n);
  const fetch = async (name: string, stored: string) => {
    await fetchWalFile(config, { sysid: opts.sysid, stored, target: path.join(spool, name), owner });
    stats.files += 1;
    stats.spool_max = Math.max(stats.spool_max, (await fs.readdir(spool)).filter((e) => !MARKERS.test(e)).length);
  };
  const tick = async () => {
    const entries = await fs.readdir(spool);
    let present = entries.filter((e) => !e.startsWith('.') && !MARKERS.test(e));
    for (const want of entries.filter((e) => e.endsWith('.want')).map((e) => e.slice(0, -'.want'.length))) {
      await fs.rm(path.join(spool, `${want}.want`), { force: true });
      if (present.includes(want)) continue;
      const answer = resolve(want);
      const seg = parseSpoolName(want);
      if (answer.kind === 'file') {
        const segno = seg?.kind === 'segment' ? order(want) : undefined;
        if (segno !== undefined) ahead = { timeline: seg!.timeline, wanted: segno, next: segno + 1n };
        // Room for it: what was fetched ahead and is not next goes (a second recovery run starts over from its checkpoint).
        const drop = segno === undefined ? [] : present.filter((p) => order(p) <= segno || order(p) >= segno + BigInt(window));
        const rest = present.filter((p) => !drop.includes(p)).sort((a, b) => (order(a) < order(b) ? -1 : 1));
        while (rest.length >= window) drop.push(rest.pop()!);
        for (const p of drop) await fs.rm(path.join(spool, p), { force: true });
        present = rest;
        try {
          await fetch(want, answer.stored);
        } catch (err) {
          failure ??= err as Error;
          await fs.writeFile(path.join(spool, `${want}.failed`), '');
        }
      } else if (answer.kind === 'missing') {
        failure ??= permanent(ErrorType.WalArchiveDamaged, `archived WAL ${want} is missing from ${path.join(config.backup.dir, walDir(opts.sysid))} (it is inside the range ${opts.range.first}..${opts.range.last} the restore planned); recovery stopped there and the target directory was left empty; run "fbb list" to pick a moment before it`);
        await fs.writeFile(path.join(spool, `${want}.failed`), '');
      } else {
        await fs.writeFile(path.join(spool, `${want}.absent`), '');
      }
    }
    // A segment behind the one asked for last (fetched for a request the script had already served) goes.
    if (ahead !== undefined) {
      const behind = present.filter((p) => order(p) >= 0n && order(p) < ahead!.wanted);
      for (const p of behind) await fs.rm(path.join(spool, p), { force: true });
      present = present.filter((p) => !behind.includes(p));
    }
    // One prefetch per tick, so a request never waits for more than one file.
    if (ahead !== undefined && present.length < window && ahead.next <= last) {
      const name = segmentName(ahead.timeline, ahead.next, opts.segmentBytes);
      ahead.next += 1n;
      const answer = resolve(name);
      if (!present.includes(name) && !skip.has(name) && answer.kind === 'file') {
        // A damaged file fetched ahead is not an error yet: only if PostgreSQL asks for it.
        await fetch(name, answer.stored).then(() => present.push(name), () => skip.add(name));
      }
    }
  };
  const loop = (async () => {
    while (!stopped) {
      await tick().catch((err: unknown) => {
        failure ??= err as Error;
      });
      await sleep(50);
    }
  })();
  return {
    restoreCommand: `${shellQuote(script)} %f %p`,
    failure: () => failure,
    stats: () => ({ ...stats }),
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

/** What to answer for each name PostgreSQL may ask for, from one listing of the archive. */
async function answerer(config: Config, opts: { sysid: string; range: WalRange; segmentBytes: number }): Promise<(name: string) => Answer> {
  const listed = await listArchivedWal(config, opts.sysid, opts.segmentBytes);
  const byName = new Map(listed.filter((f) => f.kind !== 'partial').map((f) => [f.walName, f.stored]));
  const partials = new Map(listed.filter((f) => f.kind === 'partial').map((f) => [f.walName, f.stored]));
  const segnos = new Set(listed.filter((f) => f.kind !== 'history').map((f) => f.segno));
  const first = segmentNumber(opts.range.first, opts.segmentBytes).number;
  const last = segmentNumber(opts.range.last, opts.segmentBytes).number;
  return (name) => {
    const file = parseSpoolName(name);
    if (file === undefined || file.kind === 'partial') return { kind: 'absent' };
    const stored = byName.get(name);
    if (file.kind === 'history') return stored === undefined ? { kind: 'absent' } : { kind: 'file', stored };
    const segno = segmentNumber(name, opts.segmentBytes).number;
    if (segno < first || segno > last) return { kind: 'absent' };
    if (stored !== undefined) return { kind: 'file', stored };
    const partial = segno === last && opts.range.partial ? partials.get(name) : undefined;
    if (partial !== undefined) return { kind: 'file', stored: partial };
    // Another timeline's copy of this segment is archived: PostgreSQL asks for that one next.
    return segnos.has(segno) ? { kind: 'absent' } : { kind: 'missing' };
  };
}

/** Quotes `s` for sh. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** restore_command: ask for "$1", wait for the worker's answer, move the file to "$2". */
function restoreScript(spool: string, workerPid: number): string {
  return `#!/bin/sh
# restore_command of fbb's point-in-time restore: asks the worker (pid ${workerPid}) for WAL file $1, moves it to $2.
# Exit 1: not archived (PostgreSQL tries another timeline or ends recovery). Exit 126: damaged, missing
# inside the planned range, or the worker (or its spool) is gone: PostgreSQL stops recovery rather than promote early.
spool=${shellQuote(spool)}
rm -f "$spool/$1.absent"
n=0
while :; do
  if [ -f "$spool/$1" ]; then mv -f "$spool/$1" "$2" || exit 126; rm -f "$spool/$1.want"; exit 0; fi
  if [ $n -eq 0 ]; then : > "$spool/$1.want" || exit 126; fi
  if [ -e "$spool/$1.absent" ]; then rm -f "$spool/$1.absent"; exit 1; fi
  if [ -e "$spool/$1.failed" ]; then exit 126; fi
  if [ ! -d /proc/${workerPid} ] || [ ! -d "$spool" ] || [ $n -ge 6000 ]; then exit 126; fi
  n=$((n + 1))
  sleep 0.1
done
`;
}
