/**
 * Form bodies (application/x-www-form-urlencoded) for the OAuth endpoints and the picker:
 * the size is limited as bytes arrive (hono's bodyLimit, which also honours a declared
 * Content-Length up front), so no body is buffered whole before the check; each endpoint
 * answers an over-size body in its own language (OAuth JSON, a page, an OperationOutcome).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

/** Largest form body any endpoint reads. */
export const MAX_FORM_BYTES = 64 * 1024;

/** Refuses bodies over MAX_FORM_BYTES with `tooLarge(c)`, counting bytes as they arrive. */
export function limitBody(tooLarge: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  return bodyLimit({ maxSize: MAX_FORM_BYTES, onError: tooLarge });
}

/** Whether the request says its body is a form. */
export function isForm(c: Context): boolean {
  const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
  return type === 'application/x-www-form-urlencoded';
}

/** The form's fields, or undefined when the body is not a form. */
export async function formBody(c: Context): Promise<URLSearchParams | undefined> {
  if (!isForm(c)) return undefined;
  return new URLSearchParams(await c.req.text());
}
