/**
 * Synthetic encounters for one patient: dates between 2017-01-01 and 2026-10-31 at
 * plausible clinic hours (UTC), a doctor, department, site, visit type and lock state.
 * Fixed plans give the edge-case patients their exact encounters (none, thirty, UTC day
 * boundaries, string-typed `encounterLocked`, one >1 MB CCD); a counted plan gives an extra
 * patient exactly the encounters and large CCDs a load test asked for.
 */
import { DAY_MS, utcDateTime, utcMidnight } from './calendar.ts';
import type { EncounterPlan } from './edge-cases.ts';
import type { PracticeSpec } from './practices.ts';
import { mixSeed, type Rng } from './random.ts';
import type { NextechEncounterSummary, SandboxDoctor, SandboxEncounter } from './types.ts';

const FIRST_DAY = utcMidnight('2017-01-01');
const LAST_DAY = utcMidnight('2026-10-31');
/** Encounters before this are locked (charts get signed off); fixed so data never depends on "now". */
const LOCK_CUTOFF = utcMidnight('2026-06-01');
/** Enough Results rows to push one CCD past 1 MB of UTF-8 (about 120 bytes a row). */
export const LARGE_RESULT_ROWS = 10_000;

const VISIT_TYPES = ['Office Visit', 'Office Visit', 'Follow-Up', 'Follow-Up', 'Consultation',
  'Procedure', 'Post-Op', 'Telehealth'];

/** Instants chosen on purpose around one UTC day, for inclusive date-range tests. */
const DAY_BOUNDARY_INSTANTS = ['2021-03-14T23:59:59.999Z', '2021-03-15T00:00:00Z',
  '2021-03-15T04:30:00Z', '2021-03-15T23:59:59.999Z', '2021-03-16T00:00:00Z',
  '2024-02-29T15:00:00Z'].map((iso) => Date.parse(iso));

/** `encounterLocked` values of the 'locked-as-string' patient, in date order. */
const LOCKED_STRING_VALUES: readonly (boolean | string)[] = ['True', 'true', 'false', true, false, 'true'];

/** What the generator needs besides the random source. */
export interface EncounterContext {
  seed: number;
  practice: PracticeSpec;
  /** Midnight UTC of the birth date: no encounter happens before it. */
  birthDay: number;
  plan: EncounterPlan;
  /** Hands out the practice's next encounterId. */
  nextEncounterId: () => number;
  /** Results rows of the 'large-ccd' plan's big CCD (default LARGE_RESULT_ROWS). */
  largeResultRows?: number;
}

/** A weekday at clinic hours (13:00-22:45 UTC), sometimes with seconds or milliseconds. */
function clinicInstant(rng: Rng, firstDay: number): number {
  const days = Math.max(0, (LAST_DAY - firstDay) / DAY_MS);
  let day = firstDay + rng.int(0, days) * DAY_MS;
  if (new Date(day).getUTCDay() === 0) day += day + DAY_MS <= LAST_DAY ? DAY_MS : -2 * DAY_MS;
  let ms = day + rng.int(13, 22) * 3_600_000 + rng.pick([0, 15, 30, 45]) * 60_000;
  if (rng.chance(0.25)) ms += rng.int(1, 59) * 1000;
  if (rng.chance(0.1)) ms += rng.int(1, 999);
  return ms;
}

function encounterCount(rng: Rng, plan: EncounterPlan): number {
  if (typeof plan === 'object') return plan.encounters;
  switch (plan) {
    case 'none': return 0;
    case 'many': return 30;
    case 'large-ccd': return rng.int(3, 8);
    case 'locked-strings': return LOCKED_STRING_VALUES.length;
    case 'day-boundary': return DAY_BOUNDARY_INSTANTS.length;
    case 'some': return rng.int(2, 12);
    case 'random': return rng.chance(0.06) ? 0 : Math.round(1 + rng.next() ** 2 * 29);
  }
}

function lockState(rng: Rng, instant: number): boolean | string {
  const locked = instant < LOCK_CUTOFF ? rng.chance(0.98) : rng.chance(0.4);
  // Nextech documents the field as a string; a few records really do send one.
  return rng.chance(0.03) ? String(locked) : locked;
}

function summary(
  rng: Rng,
  ctx: EncounterContext,
  doctor: SandboxDoctor,
  instant: number,
  first: boolean,
): NextechEncounterSummary {
  const type = first && rng.chance(0.8) ? 'New Patient' : rng.pick(VISIT_TYPES);
  return {
    encounterId: ctx.nextEncounterId(),
    doctorId: doctor.doctorId,
    doctorFirstName: doctor.firstName,
    doctorLastName: doctor.lastName,
    doctorProfessionalDesignation: doctor.professionalDesignation,
    department: type === 'Telehealth' || rng.chance(0.04) ? null : rng.pick(ctx.practice.departments),
    location: rng.pick(ctx.practice.locations),
    encounterDate: utcDateTime(instant),
    type,
    encounterLocked: lockState(rng, instant),
  };
}

/** The patient's encounters, sorted by date, with encounterIds handed out in that order. */
export function generateEncounters(rng: Rng, ctx: EncounterContext): SandboxEncounter[] {
  const count = encounterCount(rng, ctx.plan);
  const firstDay = Math.max(FIRST_DAY, ctx.birthDay + 7 * DAY_MS);
  const instants = ctx.plan === 'day-boundary'
    ? [...DAY_BOUNDARY_INSTANTS]
    : Array.from({ length: count }, () => clinicInstant(rng, firstDay)).sort((a, b) => a - b);
  const primary = rng.pick(ctx.practice.doctors);
  return instants.map((instant, i) => {
    const doctor = rng.chance(0.7) ? primary : rng.pick(ctx.practice.doctors);
    const s = summary(rng, ctx, doctor, instant, i === 0);
    if (ctx.plan === 'locked-strings') s.encounterLocked = LOCKED_STRING_VALUES[i] ?? true;
    const counted = typeof ctx.plan === 'object' ? ctx.plan : undefined;
    const large = counted ? i < counted.large : ctx.plan === 'large-ccd' && i === 0;
    const largeRows = counted?.largeResultRows ?? ctx.largeResultRows ?? LARGE_RESULT_ROWS;
    return {
      summary: s,
      instant,
      ccdSeed: mixSeed(ctx.seed, s.encounterId),
      resultRows: large ? largeRows : rng.int(0, 12),
    };
  });
}
