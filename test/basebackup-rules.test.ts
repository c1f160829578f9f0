// The pure rules of physical backups: names, WAL segment arithmetic, the strict recovery time,
// the restorable window and the choice of base backup, and the tar tap that reads pg_basebackup's stream.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { TarTap } from '../src/activities/basebackup/tarTap';
import type { BaseBackupManifest } from '../src/basebackup/manifest';
import { baseBackupFilename, parseArchivedWal, parseBaseBackupName, segmentName, segnoOfLsn } from '../src/basebackup/naming';
import { assertInWindow, parseRecoveryTarget } from '../src/basebackup/recoveryTime';
import { pickBackup, restorableWindow, usableBackups, type ListedWal } from '../src/basebackup/window';
import { objectsForMoment } from '../src/activities/basebackup/s3Scope';
import { tempDir } from './helpers';

const SEG = 16 * 1024 * 1024;

describe('base backup and WAL names', () => {
  it('names a base backup in UTC and parses it back; sidecars and temporary files are not backups', () => {
    const name = baseBackupFilename('family_brain', new Date('2026-12-05T23:10:09.500Z'), true);
    expect(name).toBe('family_brain_base_20261205_231009.tar.gz.age');
    expect(parseBaseBackupName(name)).toEqual({ filename: name, prefix: 'family_brain', timestamp: '20261205_231009', encrypted: true });
    for (const other of [`${name}.sha256`, `${name}.manifest.json`, `.${name}.partial-0a1b2c3d`, 'family_brain_daily_20261205_020000.sql.gz']) expect(parseBaseBackupName(other)).toBeUndefined();
  });

  it('reads the archive layout: segments, partial segments, history files, encrypted or not', () => {
    expect(parseArchivedWal('0000000100000002000000FF.gz', SEG)).toEqual({ stored: '0000000100000002000000FF.gz', walName: '0000000100000002000000FF', kind: 'segment', timeline: 1, segno: 2n * 256n + 255n, encrypted: false });
    expect(parseArchivedWal('000000020000000000000003.partial.gz.age', SEG)).toMatchObject({ walName: '000000020000000000000003', kind: 'partial', timeline: 2, segno: 3n, encrypted: true });
    expect(parseArchivedWal('00000002.history.gz', SEG)).toMatchObject({ walName: '00000002.history', kind: 'history', timeline: 2 });
    expect(parseArchivedWal('000000010000000000000003.gz.sha256', SEG)).toBeUndefined();
    expect(segnoOfLsn('2/FF000028', SEG)).toBe(2n * 256n + 255n);
    expect(segmentName(1, 2n * 256n + 255n, SEG)).toBe('0000000100000002000000FF');
  });
});

describe('the recovery time', () => {
  it.each([
    ['2026-12-05T23:10:00Z', '2026-12-05T23:10:00.000Z'],
    ['2026-12-05T18:10:00.25-05:00', '2026-12-05T23:10:00.250Z'],
    ['2026-12-06T00:10+01:00', '2026-12-05T23:10:00.000Z'],
  ])('accepts %s as %s', (text, at) => {
    expect(parseRecoveryTarget(text)).toEqual({ kind: 'time', at });
  });

  it.each(['2026-12-05 23:10:00', '2026-12-05T23:10:00', '2026-02-30T10:00:00Z', 'yesterday', '1733440200', '2026-12-05T25:00:00Z'])('refuses %s, naming the expected form', (text) => {
    expect(() => parseRecoveryTarget(text)).toThrow(`--to-time "${text}" is not a moment this restore can use: expected "latest" or ISO 8601 with an offset or Z`);
  });

  it('refuses moments outside the window before anything runs, naming the window', () => {
    const window = { oldest: '2026-12-05T20:00:00.000Z', newest: '2026-12-05T23:00:00.000Z' };
    const now = new Date('2026-12-05T23:00:05Z');
    expect(() => assertInWindow('2026-12-05T19:59:59.000Z', window, now)).toThrow('--to-time 2026-12-05T19:59:59.000Z is before the oldest moment a base backup reaches; the restorable window is 2026-12-05T20:00:00.000Z to 2026-12-05T23:00:00.000Z');
    expect(() => assertInWindow('2026-12-05T23:00:10.000Z', window, now)).toThrow('--to-time 2026-12-05T23:00:10.000Z is in the future (now 2026-12-05T23:00:05.000Z)');
    expect(() => assertInWindow('2026-12-05T23:00:02.000Z', window, now)).toThrow('is after the newest archived WAL; the restorable window is');
    expect(() => assertInWindow('2026-12-05T21:00:00.000Z', window, now)).not.toThrow();
  });
});

/** A manifest with what the window rules read. */
function backup(filename: string, start: string, end: string, endTime: string, parent: string | null = null): BaseBackupManifest {
  return { filename, parent, backup_type: parent ? 'incremental' : 'full', timeline: 1, start_lsn: start, end_lsn: end, end_time: endTime, wal_segment_bytes: SEG, system_identifier: '1' } as BaseBackupManifest;
}

/** Archived segments 1..n of timeline 1 (n partial when `partialLast`), the k-th written at minute k. */
function wal(segments: number[], partialLast = false): ListedWal[] {
  return segments.map((s, i) => {
    const name = segmentName(1, BigInt(s), SEG);
    const partial = partialLast && i === segments.length - 1;
    return { ...parseArchivedWal(`${name}${partial ? '.partial' : ''}.gz`, SEG)!, modified_at: `2026-12-05T10:${String(s).padStart(2, '0')}:00.000Z`, size_bytes: 1 };
  });
}

describe('the restorable window', () => {
  const a = backup('a', '0/2000028', '0/2000100', '2026-12-05T10:02:00.000Z');
  const b = backup('b', '0/5000028', '0/5000100', '2026-12-05T10:05:00.000Z');

  it('runs from the end of the oldest usable backup to the newest archived WAL with no gap, the partial segment included', () => {
    const usable = usableBackups([a, b], wal([2, 3, 4, 5, 6, 7], true));
    expect(usable.map((u) => u.chain.map((c) => c.filename))).toEqual([['b'], ['a']]);
    expect(restorableWindow(usable)).toEqual({ oldest: a.end_time, newest: '2026-12-05T10:07:00.000Z' });
    expect(pickBackup(usable, '2026-12-05T10:04:00.000Z')?.chain[0]!.filename).toBe('a');
    expect(pickBackup(usable, '2026-12-05T10:06:00.000Z')?.chain[0]!.filename).toBe('b');
    expect(pickBackup(usable, undefined)?.chain[0]!.filename).toBe('b');
  });

  it('leaves out a backup whose WAL has a gap before its end, and an incremental whose parent is gone', () => {
    expect(usableBackups([a, b], wal([3, 4, 5, 6])).map((u) => u.chain[0]!.filename)).toEqual(['b']);
    const orphan = backup('c', '0/5000028', '0/5000100', '2026-12-05T10:05:00.000Z', 'gone');
    expect(usableBackups([orphan], wal([5, 6]))).toEqual([]);
    const child = backup('c', '0/5000028', '0/5000100', '2026-12-05T10:05:00.000Z', 'a');
    expect(usableBackups([a, child], wal([2, 3, 4, 5, 6]))[0]!.chain.map((c) => c.filename)).toEqual(['a', 'c']);
    expect(restorableWindow([])).toBeNull();
  });
});

describe('what a restore to a moment copies down from S3', () => {
  const a = backup('a', '0/2000028', '0/2000100', '2026-12-05T10:02:00.000Z');
  const b = backup('b', '0/5000028', '0/5000100', '2026-12-05T10:05:00.000Z');
  const objects = [
    ...['a', 'b'].flatMap((f) => ['', '.manifest.json', '.sha256'].map((x) => ({ rel: `base/1/${f}${x}`, size: 1, when: new Date('2026-12-05T10:00:00.000Z') }))),
    ...wal([2, 3, 4, 5, 6, 7], true).flatMap((w) => [w.stored, `${w.stored}.sha256`].map((n) => ({ rel: `wal/1/${n}`, size: 1, when: new Date(w.modified_at) }))),
  ];
  const picked = (toTime: string) => [...(objectsForMoment(toTime, [a, b], objects) ?? ['everything'])].sort();

  it('is the chain the restore starts from and its WAL from the chain\'s start, not the older backups nor the WAL before it', () => {
    const fromB = ['base/1/b', 'base/1/b.manifest.json', 'base/1/b.sha256', ...[5, 6].flatMap((s) => [`wal/1/${segmentName(1, BigInt(s), SEG)}.gz`, `wal/1/${segmentName(1, BigInt(s), SEG)}.gz.sha256`]), `wal/1/${segmentName(1, 7n, SEG)}.partial.gz`, `wal/1/${segmentName(1, 7n, SEG)}.partial.gz.sha256`].sort();
    expect(picked('latest')).toEqual(fromB);
    expect(picked('2026-12-05T10:06:00.000Z')).toEqual(fromB);
    // Before b ended: a, and its WAL from segment 2 on (the whole run: the time's LSN is not known before recovery).
    const fromA = picked('2026-12-05T10:04:00.000Z');
    expect(fromA.filter((k) => k.startsWith('base/'))).toEqual(['base/1/a', 'base/1/a.manifest.json', 'base/1/a.sha256']);
    expect(fromA.filter((k) => k.startsWith('wal/') && !k.endsWith('.sha256'))).toHaveLength(6);
  });

  it('is everything when no base backup in S3 reaches the moment (the plan then says why, with the window)', () => {
    expect(picked('2026-12-05T09:00:00.000Z')).toEqual(['everything']);
    expect(picked('not a time')).toEqual(['everything']);
  });
});

describe('the tar tap', () => {
  it('passes the stream through unchanged and keeps the named members', async () => {
    const dir = tempDir('tartap');
    fs.writeFileSync(path.join(dir, 'backup_label'), 'START WAL LOCATION: 0/2000028\n');
    fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(700_000, 7));
    fs.writeFileSync(path.join(dir, 'backup_manifest'), '{"WAL-Ranges": []}\n');
    const tar = (await execa('tar', ['-c', '-C', dir, 'backup_label', 'big', 'backup_manifest'], { encoding: 'buffer' })).stdout as unknown as Buffer;
    const tap = new TarTap(['backup_label', 'backup_manifest']);
    const out: Buffer[] = [];
    // Odd-sized chunks, so headers and data straddle chunk boundaries.
    const chunks = Array.from({ length: Math.ceil(tar.length / 777) }, (_, i) => tar.subarray(i * 777, (i + 1) * 777));
    await pipeline(Readable.from(chunks), tap, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
    expect(Buffer.concat(out).equals(tar)).toBe(true);
    expect(tap.captured.get('backup_label')?.toString()).toBe('START WAL LOCATION: 0/2000028\n');
    expect(tap.captured.get('backup_manifest')?.toString()).toBe('{"WAL-Ranges": []}\n');
    expect(tap.captured.has('big')).toBe(false);
  });
});
