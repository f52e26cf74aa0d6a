// A request keeps its room in the document memory budget until its response has been
// written out (its text is alive until then), not merely built: over a real socket, with a
// client that reads nothing, the room stays held; when the client goes, it is given back.
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBudget, type Reservation } from '../../src/source/memory-budget.ts';
import type { AppEnv } from '../../src/routes/env.ts';
import { releaseMemoryWhenWritten } from '../../src/routes/release-memory.ts';
import { waitFor } from '../helpers/wait.ts';

const MB = 1024 * 1024;
/** More than loopback's socket buffers take from a client that does not read. */
const BODY_BYTES = 48 * MB;

const budget = new MemoryBudget({ maxBytes: 64 * MB });
const held: Reservation[] = [];
let server: ServerType;
let port: number;

beforeAll(async () => {
  const app = new Hono<AppEnv>();
  app.use(async (c, next) => {
    const r = budget.reserve();
    held.push(r);
    c.set('releaseMemory', () => r.release());
    await next();
  });
  app.use(releaseMemoryWhenWritten);
  app.get('/big', async (c) => {
    await held.at(-1)?.grow(BODY_BYTES);
    return c.body(new Uint8Array(BODY_BYTES).fill(120), 200, { 'content-type': 'text/plain' });
  });
  app.get('/small', async (c) => {
    await held.at(-1)?.grow(1024);
    return c.text('ok');
  });
  server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((r) => server.once('listening', () => r()));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('a request\'s room in the document memory budget', () => {
  it('stays held while its response is still being written to a client that reads nothing, and is given back when that client goes', async () => {
    const socket = connect(port, '127.0.0.1');
    socket.pause();
    socket.write('GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await waitFor(() => budget.inFlight >= BODY_BYTES);
    // Well after the response was built and handed to the socket.
    await new Promise((r) => setTimeout(r, 300));
    expect(budget.inFlight).toBe(BODY_BYTES);
    socket.destroy();
    await waitFor(() => budget.inFlight === 0, 2_000);
  });

  it('is given back once a response is written whole', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/small`);
    expect(await res.text()).toBe('ok');
    await waitFor(() => budget.used === 0, 2_000);
  });
});
