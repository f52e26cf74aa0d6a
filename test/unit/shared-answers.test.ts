/**
 * The shared answers' gate: while the shared store is degraded (Redis paused or away), no
 * request looks an answer up or writes one, so none waits out the answers connection's
 * timeout before asking Nextech; once Redis answers again, answers are shared again.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createSealer } from '../../src/auth/smart/sealer.ts';
import { sharedAnswers } from '../../src/shared/shared-answers.ts';
import type { AnswerTier } from '../../src/shared/store.ts';

/** A tier that remembers what it is asked, and (when `hang`) never answers, as a paused Redis. */
function tier(hang: () => boolean) {
  const values = new Map<string, string>();
  const asked: string[] = [];
  const never = new Promise<never>(() => undefined);
  const t: AnswerTier = {
    get: (key) => (asked.push(`get ${key}`), hang() ? never : Promise.resolve(values.get(key))),
    keepWithin: (key, value) => (asked.push(`keep ${key}`), hang() ? never : Promise.resolve(values.set(key, value) && true)),
  };
  return { t, asked };
}

const LIMITS = { perCallerBytes: 1 << 20, totalBytes: 1 << 22 };
const Rows = z.array(z.object({ n: z.number() }));

describe('shared answers while the shared store is degraded', () => {
  it('neither looks up nor writes an answer, and shares again once the store answers', async () => {
    let degraded = true;
    const { t, asked } = tier(() => degraded);
    const answers = sharedAnswers(t, createSealer('k'.repeat(32), Date.now), 's'.repeat(32), LIMITS, () => !degraded);
    answers.put('listing', 'a', [{ n: 1 }], 60_000, 'caller');
    // Resolves at once (a miss), though the tier would never answer.
    expect(await answers.get('listing', 'a', Rows)).toBeUndefined();
    expect(asked).toEqual([]);
    degraded = false;
    answers.put('listing', 'a', [{ n: 1 }], 60_000, 'caller');
    await new Promise((r) => setImmediate(r));
    expect(await answers.get('listing', 'a', Rows)).toEqual([{ n: 1 }]);
    expect(asked).toHaveLength(2);
  });
});
