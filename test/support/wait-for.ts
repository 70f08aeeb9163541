/**
 * Polls `predicate` until it holds (real clock), failing with `what` after
 * `timeoutMs`. Tests wait for a condition, never for a hoped-for duration.
 */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what = 'condition', timeoutMs = 10_000, everyMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
