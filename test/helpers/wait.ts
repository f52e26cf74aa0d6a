/** Polls `check` every 10 ms until it holds; throws after `ms`. For state that settles on its own (counts, gauges), never for timing. */
export async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
