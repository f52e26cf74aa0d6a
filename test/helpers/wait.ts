/**
 * Polls `check` until it holds; throws, naming `what`, after `ms`. For state that settles on
 * its own (counts, gauges, connections closed), never for timing. A check may be async (it
 * asks the service over HTTP): `every` then spaces the asks so the polling does not load
 * the service it watches.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, ms = 5_000, opts: { what?: string; every?: number } = {}): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting${opts.what ? ` for ${opts.what}` : ''}`);
    await new Promise((r) => setTimeout(r, opts.every ?? 10));
  }
}
