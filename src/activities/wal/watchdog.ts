// A session that heartbeats is not a session that archives: the heartbeat runs on a timer, so an
// attempt stuck in one step (an S3 request or a query that never answers) or whose pg_receivewal
// stopped receiving looks alive to the server for ever while the archive falls behind. The soak
// (issue 26, seed 1616, per host) saw an attempt store nothing for 2.5 minutes, heartbeating, until
// its worker was killed; the base backup waiting for its WAL failed meanwhile. The watchdog notices
// that and fails the attempt, so that it is retried (on any worker) and streams again from the slot.
import type { Config } from '../../config';
import { ErrorType, transient } from '../../errors';
import { lsnToBigInt } from '../../wal/layout';
import type { SlotPosition } from './server';

/** What the session tells the watchdog, and what it asks it. */
export class SessionWatchdog {
  private step = 'starting';
  private stepSince = Date.now();
  /** The last sample's time, and since when (as of it) the slot stood still with WAL to receive, and the archive's position stood still with WAL flushed past it. */
  private sampledAt = 0;
  private flushed: string | null = null;
  private flushedSince = 0;
  private archived: string | null = null;
  private archivedSince = 0;

  constructor(
    private readonly stallMs: number,
    /** How often the session copies the partial segment: WAL flushed may wait this long to be stored. */
    private readonly partialMs: number,
  ) {}

  /** The session begins `step`, or moves in it (a file stored or sent). */
  at(step: string): void {
    this.step = step;
    this.stepSince = Date.now();
  }

  /** A new sample of the server and the slot, and the position up to which the archive holds the WAL. */
  sampled(position: SlotPosition, archivedLsn: string | null): void {
    const now = Date.now();
    const slot = position.slot_restart_lsn;
    const past = (a: string | null, b: string | null) => a !== null && b !== null && lsnToBigInt(a) > lsnToBigInt(b);
    // A slot that moved is not a stall, nor one with nothing to receive (the server wrote nothing past it).
    if (this.sampledAt === 0 || slot !== this.flushed || !past(position.server_lsn, slot)) this.flushedSince = now;
    // Nor is an archive that stored more, or holds everything flushed.
    if (this.sampledAt === 0 || archivedLsn !== this.archived || !past(slot, archivedLsn)) this.archivedSince = now;
    this.flushed = slot;
    this.archived = archivedLsn;
    this.sampledAt = now;
  }

  /** Why the session is stalled, or undefined while it is not. */
  stall(config: Config, slot: string, position: SlotPosition | null): Error | undefined {
    const now = Date.now();
    const where = `the WAL archive of ${config.database.host}:${config.database.port} (slot ${slot})`;
    const next = `the attempt is failed and retried, and streams again from the slot (no WAL is lost while the slot exists); if this repeats, check the worker's network to the database server and S3 (WAL_STALL_SECONDS=${Math.round(this.stallMs / 1000)})`;
    if (now - this.stepSince > this.stallMs) {
      return transient(ErrorType.WalArchiveFailed, `${where} stalled: ${this.step} has not finished nor moved for ${Math.round((now - this.stepSince) / 1000)} s; ${next}`);
    }
    // Judged as of the last sample: a long pass that does not sample is judged by its step.
    const still = (since: number) => Math.round((this.sampledAt - since) / 1000);
    if (this.sampledAt - this.flushedSince > this.stallMs) {
      return transient(ErrorType.WalArchiveFailed, `${where} stalled: pg_receivewal confirmed nothing for ${still(this.flushedSince)} s while the server wrote past the slot (server at ${position?.server_lsn}, slot at ${this.flushed}); ${next}`);
    }
    if (this.sampledAt - this.archivedSince > this.stallMs + this.partialMs) {
      return transient(ErrorType.WalArchiveFailed, `${where} stalled: the archive stored nothing for ${still(this.archivedSince)} s (it holds up to ${this.archived}, pg_receivewal flushed up to ${this.flushed}); ${next}`);
    }
    return undefined;
  }
}
