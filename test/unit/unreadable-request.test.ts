// What the adapter could not hand to the app (src/http-server.ts, unreadableRequests): a
// request it cannot read is the client's 400; anything else is a bug — answered with a 500
// OperationOutcome and, unlike before, logged (its name and stack, nothing of the request).
// Nothing a client sends reaches the second case, so it is driven here directly.
import { RequestError } from '@hono/node-server';
import { describe, expect, it } from 'vitest';
import { unreadableRequests } from '../../src/http-server.ts';
import { assertValidFhir } from '../helpers/validator.ts';

function recorder() {
  const lines: { obj: unknown; msg: string }[] = [];
  return { lines, log: { error: (obj: unknown, msg: string) => void lines.push({ obj, msg }) } as never };
}

describe('a request the adapter could not hand to the app', () => {
  it('is a 400 OperationOutcome when it cannot be read, and is not logged as a fault', async () => {
    const { lines, log } = recorder();
    const res = unreadableRequests(log)(new RequestError('Invalid host header'));
    expect(res.status).toBe(400);
    assertValidFhir(await res.json());
    expect(lines).toEqual([]);
  });

  it('is a 500 OperationOutcome otherwise, and logged with the error name and stack', async () => {
    const { lines, log } = recorder();
    const fault = new TypeError('cannot read properties of undefined');
    const res = unreadableRequests(log)(fault);
    expect(res.status).toBe(500);
    expect(res.headers.get('content-type')).toBe('application/fhir+json; charset=utf-8');
    const body = (await res.json()) as { issue: { code: string; diagnostics: string }[] };
    assertValidFhir(body);
    expect(body.issue[0]).toMatchObject({ code: 'exception', diagnostics: 'Internal server error' });
    expect(lines).toEqual([{ obj: { err: { name: 'TypeError', stack: fault.stack } }, msg: 'a request could not be handed to the app' }]);
    // Something thrown that is no Error is logged by its type.
    unreadableRequests(log)('a string');
    expect(lines[1]?.obj).toEqual({ err: { name: 'string', stack: undefined } });
  });
});
