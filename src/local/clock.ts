/** Time as the local runner's workflows see it. */
export interface Clock {
  readonly virtual: boolean;
  now(): number;
  /** Waits `ms` of workflow time: really on the wall clock, or by jumping ahead on a virtual one. */
  sleep(ms: number): Promise<void>;
  /** Jumps ahead to `at` (virtual clocks only; a wall clock cannot be skipped). */
  advanceTo(at: number): void;
}

/** Wall-clock time, for the CLI's --local runs: a one-hour deadline takes one hour. */
export function realClock(): Clock {
  return {
    virtual: false,
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    advanceTo: () => {
      throw new Error('a real clock cannot be advanced');
    },
  };
}

/** Wall-clock time plus skipped time, as in Temporal's time-skipping test server. */
export function virtualClock(): Clock {
  let skipped = 0;
  const clock: Clock = {
    virtual: true,
    now: () => Date.now() + skipped,
    sleep: async (ms) => {
      skipped += Math.max(0, ms);
    },
    advanceTo: (at) => {
      skipped += Math.max(0, at - clock.now());
    },
  };
  return clock;
}
