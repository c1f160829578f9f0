// Polling for state another process or the Temporal server reaches on its own time (a worker's run,
// visibility that lags a run's close): tests wait for it instead of sleeping.

/** Calls `probe` until `done` accepts its answer; fails with the last answer after `ms`. */
export async function eventually<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${ms} ms; last seen: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
