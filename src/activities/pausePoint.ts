// A test hook to stop a process at an exact moment, so that a test can SIGKILL it there. Off unless
// FBB_TEST_PAUSE_AT names the point; it never changes what the code does otherwise.

/** With FBB_TEST_PAUSE_AT=`point`, says so on stderr and waits forever (until the process is killed). */
export async function pausePoint(point: string): Promise<void> {
  if (process.env.FBB_TEST_PAUSE_AT !== point) return;
  process.stderr.write(`fbb: test pause at ${point} (pid ${process.pid})\n`);
  await new Promise<never>(() => undefined);
}
