/**
 * CCD sections about the patient rather than the visit: allergies, medications, problems,
 * immunizations, family and social history. They are seeded from the patient, so they
 * read the same in every encounter's CCD, as a real chart's history would.
 */
import { DAY_MS, utcDate } from './calendar.ts';
import {
  ALLERGENS,
  FAMILY_HISTORY,
  GENERAL_MEDICATIONS,
  SPECIALTY_MEDICATIONS,
  VACCINES,
  type Coded,
} from './clinical-codes.ts';
import { patientProblems, type SectionContext, type SectionRenderer } from './ccd-section.ts';
import { htmlParagraph, htmlTable } from './html.ts';
import type { Rng } from './random.ts';

/** Up to `max` distinct entries of a pool, in pool order. */
function some(rng: Rng, pool: readonly Coded[], min: number, max: number): Coded[] {
  const picked = new Set<Coded>();
  for (let n = rng.int(min, max); n > 0; n--) picked.add(rng.pick(pool));
  return pool.filter((entry) => picked.has(entry));
}

/** An instant some days before the first visit, for start and onset dates. */
function before(ctx: SectionContext, maxDays: number): string {
  const first = ctx.patient.encounters[0]?.instant ?? ctx.encounter.instant;
  return utcDate(first - ctx.rng.int(1, maxDays) * DAY_MS);
}

const allergies: SectionRenderer = (ctx) => {
  if (ctx.rng.chance(0.35)) return htmlParagraph('No known drug allergies.');
  const rows = some(ctx.rng, ALLERGENS, 1, 3).map((a) => [
    a.code,
    a.display,
    a.display === 'Anaphylaxis' ? 'Severe' : ctx.rng.pick(['Mild', 'Moderate']),
    'Active',
  ]);
  return htmlTable(['Substance', 'Reaction', 'Severity', 'Status'], rows);
};

const medications: SectionRenderer = (ctx) => {
  const specialty = some(ctx.rng, SPECIALTY_MEDICATIONS[ctx.practice.specialty], 0, 2);
  const general = some(ctx.rng, GENERAL_MEDICATIONS, 0, 3);
  const rows = [...specialty, ...general].map((m) => [m.code, m.display, 'Active', before(ctx, 2000)]);
  if (rows.length === 0) return htmlParagraph('No active medications.');
  return htmlTable(['Medication', 'Instructions', 'Status', 'Start Date'], rows);
};

const problems: SectionRenderer = (ctx) => {
  const rows = patientProblems(ctx.practice, ctx.patient).map((p) => [
    p.display,
    p.code,
    utcDate(p.onset),
    p.status,
  ]);
  return htmlTable(['Problem', 'ICD-10-CM', 'Onset', 'Status'], rows);
};

const immunizations: SectionRenderer = (ctx) => {
  const rows = some(ctx.rng, VACCINES, 0, 4).map((v) => [v.display, v.code, before(ctx, 1500), 'Completed']);
  if (rows.length === 0) return htmlParagraph('No immunizations on record.');
  return htmlTable(['Vaccine', 'CVX', 'Date Administered', 'Status'], rows);
};

const familyHistory: SectionRenderer = (ctx) => {
  const rows = some(ctx.rng, FAMILY_HISTORY, 0, 3).map((f) => [f.code, f.display]);
  if (rows.length === 0) return htmlParagraph('Family history is non-contributory.');
  return htmlTable(['Relative', 'Condition'], rows);
};

const socialHistory: SectionRenderer = (ctx) => {
  const { rng } = ctx;
  const rows = [
    ['Tobacco use', rng.pick(['Never smoker', 'Former smoker, quit more than 10 years ago', 'Current every day smoker'])],
    ['Alcohol use', rng.pick(['None', 'Occasional', '1–2 drinks per week', '3–5 drinks per week'])],
    ['Occupation', rng.pick(['Teacher', 'Retired', 'Nurse', 'Electrician', 'Student', 'Accountant', 'Farmer'])],
    ctx.practice.specialty === 'dermatology'
      ? ['Sun exposure', rng.pick(['Minimal', 'Moderate, uses sunscreen', 'High, outdoor work'])]
      : ['Drives', rng.pick(['Yes', 'Yes, daytime only', 'No'])],
  ];
  return htmlTable(['Item', 'Value'], rows);
};

/** Renderers of the history sections, by category. */
export const HISTORY_RENDERERS = {
  Allergies: allergies,
  Medications: medications,
  Problems: problems,
  Immunizations: immunizations,
  'Family History': familyHistory,
  'Social History': socialHistory,
} satisfies Record<string, SectionRenderer>;
