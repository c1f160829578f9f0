// The archiving activity: runs pg_receivewal into the spool through the archive's slot and, beside
// it, the archiver; heartbeats its progress (what `fbb wal status` shows) until the session's time is
// up or the workflow cancels it (`fbb wal stop`), then stops pg_receivewal and archives what it flushed.
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Config } from '../../config';
import { walConfig } from '../../config';
import { ErrorType } from '../../errors';
import { createS3Client } from '../../storage/s3Client';
import { defaultSlotName } from '../../wal/layout';
import { archiveLag } from '../../wal/status';
import { withClientTools } from '../clientTools';
import { requireAgeBinary } from '../encryption';
import { sendNotification } from '../notify';
import { every } from '../stream';
import { advanceArchivedSlot, prepareStream } from './archivedSlot';
import { archiveCompleted, archivePartial, archiveSpool, clearUnfinishedPartials, dropPartialBehind, noProgress, readSpool, type ArchiveProgress } from './archiver';
import { startReceiver, type Receiver } from './receiver';
import { ensureSlot, identifySystem, slotPosition, type SlotPosition } from './server';
import { prerequisiteFailure, receiverFailure, refuseLostSlot } from './failures';
import { removeTemporaries, walTarget, type WalTarget } from './store';
import { SessionWatchdog } from './watchdog';
import { takeOver } from './attempts';

/** What the archiving activity heartbeats, and returns at the end of a session. */
export interface WalHeartbeat {
  system_identifier: string;
  slot: string;
  progress: ArchiveProgress;
  position: SlotPosition | null;
  /** UTC ISO time `position` was read. */
  sampled_at: string | null;
  /** True once the webhooks were told the archive lags; false again when it caught up. */
  lag_notified: boolean;
}

/** How a session ended: its time was up, or the workflow stopped it. */
export interface WalSessionResult extends WalHeartbeat {
  ended: 'session_ended' | 'stopped';
}

/** The slot the archive of `config`'s server streams through. */
export function walSlot(config: Config): string {
  return walConfig(config).slotName ?? defaultSlotName(config.database.database);
}

/** Runs one archiving session for at most `sessionSeconds`; see the file's comment. */
export async function archiveWalSession(config: Config, input: { session_seconds: number }): Promise<WalSessionResult> {
  const ctx = Context.current();
  const wal = walConfig(config);
  const slot = walSlot(config);
  const identity = await identifySystem(config.database).catch(async (err: unknown) => {
    await archiveUnreachable(config, ctx).catch((e: unknown) => ctx.log.warn('the spool an earlier attempt left could not be archived', { error: (e as Error).message }));
    throw prerequisiteFailure(err, config);
  });
  await ensureSlot(config.database, slot).catch((err: unknown) => {
    throw prerequisiteFailure(err, config);
  });
  // A slot the server gave up on (max_slot_wal_keep_size) would let pg_receivewal start at the server's
  // current position, silently skipping what the server removed: refused instead, naming the gap.
  const startPosition = await slotPosition(config.database, slot);
  refuseLostSlot(config, slot, startPosition);
  const tools = await withClientTools(config, config.database.maintenanceDatabase);
  if (config.backup.ageRecipients.length > 0) await requireAgeBinary('the WAL archive');
  const spool = path.join(wal.spoolDir, identity.system_identifier);
  await fs.mkdir(spool, { recursive: true });
  // An attempt the server gave up on (heartbeat timeout) may still run in this process: it stops first.
  const own = await takeOver(spool, (s) => ctx.log.warn(`an earlier attempt of this session in this worker did not stop within ${s} s (stuck in a step that does not end); starting anyway`));
  const signal = AbortSignal.any([ctx.cancellationSignal, own.abort.signal]);
  const s3Client = config.s3 === undefined ? undefined : createS3Client(config.s3);
  const watchdog = new SessionWatchdog(wal.stallSeconds * 1000, wal.partialUploadSeconds * 1000);
  const target: WalTarget = { ...walTarget(config, identity.system_identifier, s3Client), touch: (step) => watchdog.at(step) };
  const earlier = ctx.info.heartbeatDetails as WalHeartbeat | undefined;
  const state: WalHeartbeat = {
    system_identifier: identity.system_identifier,
    slot,
    progress: { ...noProgress(), ...(earlier?.system_identifier === identity.system_identifier ? earlier.progress : {}), files_archived: 0 },
    position: null,
    sampled_at: null,
    lag_notified: earlier?.lag_notified === true,
  };
  let receiver: Receiver | undefined;
  let stalled: Error | undefined;
  let onStall!: (err: Error) => void;
  const stall = new Promise<never>((_, reject) => (onStall = reject));
  stall.catch(() => undefined);
  // On a timer, not per pass: a pass that gzips several segments on a busy machine must not look like a dead worker.
  // A stalled session (watchdog.ts) beats no more: its steps are aborted, pg_receivewal stopped, the attempt failed.
  const beat = () => {
    if (stalled !== undefined) return;
    stalled = watchdog.stall(config, slot, state.position);
    if (stalled === undefined) return ctx.heartbeat(state);
    ctx.log.warn(stalled.message);
    own.abort.abort(stalled);
    onStall(stalled);
  };
  beat();
  const stopBeating = every(2_000, beat);
  const slots = { db: config.database, slot, target, timeline: identity.timeline, segmentBytes: startPosition.segment_bytes };
  // Best effort: what a pass stores and could not be advanced over is by the next pass, or the next session.
  const advance = () => advanceArchivedSlot(slots).catch((err: unknown) => ctx.log.warn('the archived slot could not be advanced; the next pass does', { error: (err as Error).message }));
  let ended: WalSessionResult['ended'] | undefined;
  // The session's steps; a stall ends the attempt at once, even when a step never returns.
  const work = (async () => {
    await removeTemporaries(target);
    // First, so that no copy of it is archived.
    for (const left of await clearUnfinishedPartials(spool, startPosition.segment_bytes)) {
      ctx.log.warn(`the spool held ${left.name}, a segment file pg_receivewal could not finish creating (the disk was full?): ${left.removed ? 'it held no WAL and was removed' : 'it holds WAL and was renamed .short, kept for inspection'}; streaming from the slot`);
    }
    // What pg_receivewal wrote before an earlier attempt died (its partial segment too) is archived before it starts again.
    await archiveSpool(target, spool, state.progress, null, signal);
    watchdog.at('preparing the slots');
    const stream = await prepareStream({ ...slots, spool }).catch((err: unknown) => {
      throw prerequisiteFailure(err, config);
    });
    if (stream.created) ctx.log.info('made the archived slot (new, or the server had given it up: max_slot_wal_keep_size) from the slot', { archived_lsn: stream.archived_lsn });
    if (stream.rewound) ctx.log.warn('whole segments between the archived slot and the slot are missing from the archive (streamed into another worker\'s spool, never stored there): streaming them again', stream.rewound);
    const behind = await dropPartialBehind(spool, stream.restart_lsn);
    if (behind !== undefined) ctx.log.info('the spool was behind the slot (sessions on other workers streamed on); streaming from the slot', { dropped_partial: behind, slot_restart_lsn: stream.restart_lsn });
    // A step that returned after the stall (or after a newer attempt took over) starts nothing.
    if (own.abort.signal.aborted) throw stalled ?? own.abort.signal.reason;
    receiver = startReceiver({ binDir: tools.pgBinDir!, db: config.database, slot, spoolDir: spool });
    return runSession({ config, ctx, signal, receiver, target, spool, state, sessionSeconds: input.session_seconds, advance, watchdog });
  })();
  work.catch(() => undefined);
  try {
    ended = await Promise.race([work, stall]);
  } catch (err) {
    throw stalled ?? err;
  } finally {
    try {
      // However the session ends (time up, stopped, server gone, a failure), pg_receivewal flushes and
      // stops, then everything it received, the partial segment included, is archived before it returns.
      // Not after a stall: what it holds is archived by the next session on this worker, or streamed again from the slot.
      if (receiver) await receiver.stop(10_000).then(() => stalled ? undefined : finalCopy({ config, ctx, target, spool, state, failed: ended === undefined, advance }));
    } finally {
      stopBeating();
      s3Client?.destroy();
      own.release();
    }
  }
  // A worker shutting down is not the workflow stopping the archive: the attempt fails (the SDK's
  // WORKER_SHUTDOWN cancellation), so that the archive goes on from the slot on the next worker.
  if (stalled) throw stalled;
  const reason: unknown = ctx.cancellationSignal.reason;
  if (ended === 'stopped' && reason instanceof Error && reason.message === 'WORKER_SHUTDOWN') throw reason;
  return { ...state, ended: ended! };
}

/** The session's loop: archive, sample, copy the partial segment, until pg_receivewal ends, the time is up or the session is stopped. */
async function runSession(options: { config: Config; ctx: Context; signal: AbortSignal; receiver: Receiver; target: WalTarget; spool: string; state: WalHeartbeat; sessionSeconds: number; advance: () => Promise<unknown>; watchdog: SessionWatchdog }): Promise<WalSessionResult['ended']> {
  const { config, ctx, signal, receiver, target, spool, state, watchdog } = options;
  const wal = walConfig(config);
  const slot = state.slot;
  let exited = false;
  void receiver.exited.then(() => (exited = true));
  const deadline = Date.now() + options.sessionSeconds * 1000;
  const sampleEveryMs = Math.min(5, wal.partialUploadSeconds) * 1000;
  let nextSample = 0;
  let nextPartial = Date.now() + wal.partialUploadSeconds * 1000;
  while (!exited && !signal.aborted && Date.now() < deadline) {
    watchdog.at('archiving the completed segments');
    if ((await archiveCompleted(target, spool, state.progress, signal)) > 0) await (watchdog.at('advancing the archived slot'), options.advance());
    if (Date.now() >= nextSample) {
      nextSample = Date.now() + sampleEveryMs;
      watchdog.at("reading the slot's position");
      await sample(config, state);
      watchdog.sampled(state.position!, state.progress.archived_lsn);
      refuseLostSlot(config, slot, state.position!);
      watchdog.at('notifying the lag');
      await notifyLag(config, ctx, state, wal.maxLagSeconds);
    }
    if (Date.now() >= nextPartial) {
      nextPartial = Date.now() + wal.partialUploadSeconds * 1000;
      watchdog.at('copying the partial segment');
      await copyPartial(config, target, spool, state, signal);
    }
    watchdog.at('waiting');
    await sleep(1_000, signal);
  }
  if (exited) {
    const { exitCode, signal: killedBy, lastLines } = await receiver.exited;
    throw receiverFailure(config, slot, exitCode, killedBy, lastLines);
  }
  return ctx.cancellationSignal.aborted ? 'stopped' : 'session_ended';
}

/**
 * Archives what pg_receivewal left in the spool once it stopped: the completed files, then the partial
 * segment. The slot's position is read first when the server still answers (so the heartbeat's
 * archived_lsn moves); when it does not (crashed, unreachable), the copy is made anyway. After a
 * failure, a failing copy is logged and the session's own error is what the activity reports.
 */
async function finalCopy(options: { config: Config; ctx: Context; target: WalTarget; spool: string; state: WalHeartbeat; failed: boolean; advance?: () => Promise<unknown> }): Promise<void> {
  const { config, ctx, target, spool, state } = options;
  const reachable = await sample(config, state).then(
    () => true,
    () => false,
  );
  const flushed = reachable ? (state.position?.slot_restart_lsn ?? null) : null;
  try {
    if (reachable && flushed !== null && flushed === state.progress.archived_lsn) {
      await archiveCompleted(target, spool, state.progress);
      state.progress.archived_at = new Date().toISOString();
    } else {
      await archiveSpool(target, spool, state.progress, flushed);
    }
    if (reachable) await options.advance?.();
    ctx.heartbeat(state);
  } catch (err) {
    if (!options.failed) throw err;
    ctx.log.warn('the spool could not be archived as the session ended; the next session archives it first', { error: (err as Error).message });
  }
}

/**
 * The server does not answer, so the session cannot start: what an earlier attempt of it left in this
 * worker's spool (killed before its final copy) is archived now, the server being named by that
 * attempt's heartbeat, rather than when the server is back (perhaps never).
 */
async function archiveUnreachable(config: Config, ctx: Context): Promise<void> {
  const earlier = ctx.info.heartbeatDetails as WalHeartbeat | undefined;
  if (earlier?.system_identifier === undefined) return;
  const spool = path.join(walConfig(config).spoolDir, earlier.system_identifier);
  const left = await readSpool(spool);
  if (left.completed.length === 0 && left.partial === undefined) return;
  const own = await takeOver(spool, () => undefined);
  const s3Client = config.s3 === undefined ? undefined : createS3Client(config.s3);
  try {
    const target = walTarget(config, earlier.system_identifier, s3Client);
    const progress = { ...noProgress(), ...earlier.progress, files_archived: 0 };
    await removeTemporaries(target);
    await archiveSpool(target, spool, progress, null);
    ctx.heartbeat({ ...earlier, progress });
  } finally {
    s3Client?.destroy();
    own.release();
  }
}

/** Reads the server's and the slot's positions into the heartbeat. */
async function sample(config: Config, state: WalHeartbeat): Promise<void> {
  state.position = await slotPosition(config.database, state.slot);
  state.sampled_at = new Date().toISOString();
  // A new archive starts where the slot stood when it was first seen: its lag counts from there.
  if (state.progress.archived_lsn === null && state.position.slot_restart_lsn !== null) {
    state.progress.archived_lsn = state.position.slot_restart_lsn;
    state.progress.archived_at = state.sampled_at;
  }
}

/** Copies the partial segment when the slot has flushed more than the archive holds; otherwise the archive is confirmed current. */
async function copyPartial(config: Config, target: WalTarget, spool: string, state: WalHeartbeat, signal?: AbortSignal): Promise<void> {
  // Read first: the copy then holds at least everything flushed up to here.
  await sample(config, state);
  const flushed = state.position?.slot_restart_lsn ?? null;
  if (flushed !== null && flushed === state.progress.archived_lsn) {
    state.progress.archived_at = new Date().toISOString();
    return;
  }
  await archivePartial(target, spool, state.progress, flushed, signal);
}

/** Tells the webhooks once when the archive falls more than `maxLagSeconds` behind, and forgets it once it caught up. */
async function notifyLag(config: Config, ctx: Context, state: WalHeartbeat, maxLagSeconds: number): Promise<void> {
  const { lag_seconds, lag_bytes } = archiveLag(state.position?.server_lsn ?? null, state.progress.archived_lsn, state.progress.archived_at);
  if (lag_seconds === null || lag_seconds <= maxLagSeconds) {
    if (lag_seconds !== null) state.lag_notified = false;
    return;
  }
  if (state.lag_notified) return;
  state.lag_notified = true;
  const info = ctx.info;
  const message = `the WAL archive of ${config.database.host}:${config.database.port} is ${lag_seconds} s (${String(lag_bytes)} bytes) behind the server, more than WAL_MAX_LAG_SECONDS=${maxLagSeconds}; the slot ${state.slot} keeps the WAL meanwhile`;
  await sendNotification(config, {
    kind: 'wal',
    outcome: 'failure',
    workflow_type: info.workflowType ?? 'archiveWal',
    workflow_id: info.workflowExecution?.workflowId ?? '',
    run_id: info.workflowExecution?.runId ?? '',
    status: 'lagging',
    backup_file: null,
    error: { type: ErrorType.WalArchiveFailed, message },
  }).catch((err: unknown) => ctx.log.warn('lag notification not delivered', { error: (err as Error).message }));
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
