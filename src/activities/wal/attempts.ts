// One archiving session per spool in a worker process. An attempt the server gave up on (its heartbeat
// timed out: the Temporal server was unreachable, or the watchdog stopped it beating) may still run
// here when the next attempt lands on this worker: it is stopped and waited for, so that two
// pg_receivewal and two archivers never work in one spool.
const sessions = new Map<string, { abort: AbortController; done: Promise<void> }>();

/** How long an earlier attempt is waited for: one stuck in a step that never ends (watchdog.ts) must not block the archive for good. */
const WAIT_MS = 60_000;

/** Makes this attempt the only session on `spool` in this process: an earlier one still running is stopped and waited for (`gaveUp` told when it did not end in time). */
export async function takeOver(spool: string, gaveUp: (seconds: number) => void): Promise<{ abort: AbortController; release(): void }> {
  const earlier = sessions.get(spool);
  if (earlier) {
    earlier.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([earlier.done.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(resolve, WAIT_MS, false)))]);
    clearTimeout(timer);
    if (!ended) gaveUp(WAIT_MS / 1000);
  }
  const abort = new AbortController();
  let release!: () => void;
  const done = new Promise<void>((resolve) => (release = resolve));
  const entry = { abort, done };
  sessions.set(spool, entry);
  return {
    abort,
    release() {
      if (sessions.get(spool) === entry) sessions.delete(spool);
      release();
    },
  };
}
