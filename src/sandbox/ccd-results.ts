/**
 * The CCD Results section: a lab and measurement table whose length comes from the
 * encounter (`resultRows`). One encounter has thousands of rows, making its CCD larger
 * than 1 MB, so the facade's handling of very large upstream bodies gets exercised.
 */
import { DAY_MS, utcDate } from './calendar.ts';
import { LAB_TESTS, type LabTest } from './clinical-codes.ts';
import type { SectionRenderer } from './ccd-section.ts';
import { htmlParagraph, htmlTable } from './html.ts';
import type { SandboxSpecialty } from './types.ts';

const range = (t: LabTest): string => `${t.low.toFixed(t.decimals)}–${t.high.toFixed(t.decimals)}`;

/** Intraocular pressure is only measured by the eye practice. */
function testsFor(specialty: SandboxSpecialty): readonly LabTest[] {
  return specialty === 'ophthalmology' ? LAB_TESTS : LAB_TESTS.filter((t) => !t.display.startsWith('Intraocular'));
}

/** A lab and measurement table; older rows step back a week per full panel. */
export const results: SectionRenderer = (ctx) => {
  const count = ctx.encounter.resultRows;
  if (count === 0) return htmlParagraph('No results for this encounter.');
  const tests = testsFor(ctx.practice.specialty);
  const rows: string[][] = [];
  for (let i = 0; i < count; i++) {
    const test = tests[i % tests.length] ?? LAB_TESTS[0];
    if (!test) break;
    const value = test.low + (test.high - test.low) * (ctx.rng.next() * 1.3 - 0.15);
    const flag = value > test.high ? 'H' : value < test.low ? 'L' : '';
    const date = utcDate(ctx.encounter.instant - Math.floor(i / tests.length) * 7 * DAY_MS);
    rows.push([date, test.display, test.code, Math.max(0, value).toFixed(test.decimals), test.unit, range(test), flag]);
  }
  return htmlTable(['Date', 'Test', 'LOINC', 'Value', 'Units', 'Reference Range', 'Flag'], rows);
};
