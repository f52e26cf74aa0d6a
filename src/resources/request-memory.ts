/**
 * What one request holds of the document memory budget until its response is built. One
 * reservation per request, made when it first needs room:
 *
 * - an encounter listing read for the request counts from its first body byte (http.ts),
 *   `perByte` bytes for each: the body, the strings parsed from it (up to two bytes a
 *   character) and, for a request that builds documents, what writing the response takes
 *   (its base64 is streamed, a piece at a time: fhir/deferred-base64.ts) — all at once, so a
 *   request rarely holds room while waiting for more;
 * - a listing the request reuses (cached, or read for another request of the same caller)
 *   counts the same per CCD character, less the body it never read.
 *
 * A request holding room that must wait for more goes before new ones, and requests that
 * all hold room while waiting cannot lock each other out (memory-budget.ts). Released by
 * the route once the response is built; a request that gets no room within the wait is a
 * 503 with Retry-After.
 */
import type { RequestRoom } from '../source/call.ts';
import { toFhirError, UpstreamError } from '../source/errors.ts';
import { MemoryBudgetFull } from '../source/memory-budget.ts';
import type { SourceEncounter } from '../source/ehr-source.ts';
import type { RequestContext } from './context.ts';

/** What a refused request tells the client to wait. */
const RETRY_AFTER_SECONDS = 2;

/** Bytes per body byte of a listing: the body, then its strings at up to two bytes a character. */
const LISTING_BYTES_PER_BYTE = 3;
/**
 * The same for a request that builds documents from the listing. Its CCDs are hashed and
 * base64-encoded a piece (64 KiB) at a time as it is written, so it never holds a document's
 * base64 or the bundle's JSON with the documents in it: about 4 bytes per byte cover what it
 * holds. The budget still counts 7, as it did when the response was built whole, so no more
 * document builds run at once than before: admitting more on a saturated CPU made some of
 * them miss their upstream deadline (504) in the soak test's burst of 50 (test/soak.test.ts).
 */
const DOCUMENT_BYTES_PER_BYTE = 7;

/** Marks the request as one that builds documents (with their data) from what it reads; call before reading. */
export function buildsDocuments(ctx: RequestContext): void {
  ctx.buildsDocuments = true;
}

/** The request's room for the upstream reads it makes (created on first use); none without a budget. */
export function requestRoom(ctx: RequestContext): RequestRoom | undefined {
  const memory = ctx.services.memory;
  if (!memory) return undefined;
  const reservation = (ctx.memory ??= memory.reserve());
  return { reservation, perByte: perByte(ctx) };
}

const perByte = (ctx: RequestContext): number => (ctx.buildsDocuments ? DOCUMENT_BYTES_PER_BYTE : LISTING_BYTES_PER_BYTE);

/**
 * Counts a listing the request did not read itself (`read` false): its rows and what the
 * request builds from them, per CCD character. A listing it read is counted already.
 */
export async function holdListing(ctx: RequestContext, rows: readonly SourceEncounter[], read: boolean): Promise<void> {
  if (read && ctx.memory) return;
  const chars = rows.reduce((n, r) => n + r.ccd.length, 0);
  await hold(ctx, chars * (perByte(ctx) - 1));
}

/** Holds `bytes` more for this request (waits, bounded, for room); throws 503 when none comes. */
async function hold(ctx: RequestContext, bytes: number): Promise<void> {
  const memory = ctx.services.memory;
  if (!memory || bytes <= 0) return;
  const r = (ctx.memory ??= memory.reserve());
  // A request may need more than the whole budget: it then holds all of it.
  const grant = Math.min(bytes, memory.maxBytes - r.bytes);
  if (grant <= 0) return;
  try {
    await r.grow(grant, ctx.call.signal);
  } catch (err) {
    if (err instanceof MemoryBudgetFull) throw toFhirError(new UpstreamError({ kind: 'memory', retryAfterSeconds: RETRY_AFTER_SECONDS }, 'response'));
    throw err;
  }
}

/** Gives back what the request held (idempotent). */
export function releaseHeld(ctx: RequestContext): void {
  ctx.memory?.release();
}
