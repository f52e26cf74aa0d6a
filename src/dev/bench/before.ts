/**
 * The "before" of a report: the figures of the previous run, read back from its
 * benchmarks.json (parsed, not trusted: a file of another shape gives no "before").
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const VerdictSchema = z.object({ figure: z.string(), value: z.number().nullable() });

const PreviousSchema = z.object({
  version: z.literal(1),
  date: z.string(),
  mode: z.string(),
  machine: z.object({ commit: z.string().optional() }),
  overhead: z.array(z.object({ name: z.string(), verdicts: z.array(VerdictSchema) })),
  economy: z.object({
    paging: z.object({ verdict: VerdictSchema }).optional(),
    duplicates: z.object({ verdict: VerdictSchema }).optional(),
    session: z.object({ verdict: VerdictSchema }).optional(),
  }),
});

export interface Before {
  date: string;
  mode: string;
  commit?: string;
  /** Values by `scenario/figure`. */
  values: ReadonlyMap<string, number>;
}

export const figureKey = (scenario: string, figure: string) => `${scenario}/${figure}`;

export async function readBefore(file: string): Promise<Before | undefined> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
  const parsed = PreviousSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const p = parsed.data;
  const values = new Map<string, number>();
  for (const o of p.overhead) for (const v of o.verdicts) if (v.value !== null) values.set(figureKey(o.name, v.figure), v.value);
  for (const [name, e] of Object.entries(p.economy)) if (e && e.verdict.value !== null) values.set(figureKey(name, e.verdict.figure), e.verdict.value);
  return { date: p.date, mode: p.mode, ...(p.machine.commit ? { commit: p.machine.commit } : {}), values };
}
