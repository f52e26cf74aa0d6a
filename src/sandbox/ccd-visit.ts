/**
 * CCD sections about one visit: reason, complaint, history of present illness, review of
 * systems, vital signs, procedures, assessment and plan. They are seeded from the
 * encounter, so every encounter's CCD differs but always renders the same bytes.
 */
import { utcDate } from './calendar.ts';
import { ROS_POSITIVES, SPECIALTY_PROCEDURES } from './clinical-codes.ts';
import { ageAt, patientProblems, visitReason, type SectionRenderer } from './ccd-section.ts';
import { htmlList, htmlParagraph, htmlTable } from './html.ts';

const reasonForVisit: SectionRenderer = (ctx) => htmlParagraph(visitReason(ctx).code);

const chiefComplaint: SectionRenderer = (ctx) => htmlParagraph(`“${visitReason(ctx).display}”`);

const presentIllness: SectionRenderer = (ctx) => {
  const { rng, patient, encounter } = ctx;
  const age = ageAt(patient.birthDate, encounter.instant);
  const onset = `${rng.int(1, 11)} ${rng.pick(['days', 'weeks', 'months'])}`;
  const course = rng.pick(['gradually worsening', 'unchanged', 'improving', 'intermittent']);
  const pain = rng.pick(['Denies pain.', 'Reports mild discomfort.', 'Reports moderate discomfort at night.']);
  return htmlParagraph(
    `${patient.json.firstName} is a ${age}-year-old seen for ${visitReason(ctx).code.toLowerCase()}. ` +
      `Symptoms began ${onset} ago and have been ${course}. ${pain} Medications and allergies reviewed.`,
  );
};

const reviewOfSystems: SectionRenderer = (ctx) => {
  const rows = Object.entries(ROS_POSITIVES).map(([system, positive]) => [
    system,
    ctx.rng.chance(0.2) ? positive : 'Negative',
  ]);
  return htmlTable(['System', 'Findings'], rows);
};

const vitalSigns: SectionRenderer = (ctx) => {
  const { rng, encounter, patient } = ctx;
  if (encounter.summary.type === 'Telehealth') return htmlParagraph('Not obtained (telehealth visit).');
  const child = ageAt(patient.birthDate, encounter.instant) < 13;
  const height = child ? rng.int(90, 155) : rng.int(150, 195);
  const weight = child ? rng.int(14, 48) : rng.int(48, 130);
  const rows = [
    ['Blood pressure', `${rng.int(100, 160)}/${rng.int(60, 95)}`, 'mm[Hg]'],
    ['Heart rate', String(rng.int(55, 105)), '/min'],
    ['Respiratory rate', String(rng.int(12, 20)), '/min'],
    ['Temperature', (97 + rng.int(0, 24) / 10).toFixed(1), '°F'],
    ['Oxygen saturation', String(rng.int(94, 100)), '%'],
    ['Height', String(height), 'cm'],
    ['Weight', String(weight), 'kg'],
    ['BMI', (weight / (height / 100) ** 2).toFixed(1), 'kg/m²'],
  ];
  return htmlTable(['Measurement', 'Value', 'Units'], rows);
};

const procedures: SectionRenderer = (ctx) => {
  const { rng, encounter } = ctx;
  const done = encounter.summary.type === 'Procedure' || rng.chance(0.3);
  if (!done) return htmlParagraph('No procedures performed during this encounter.');
  const pool = SPECIALTY_PROCEDURES[ctx.practice.specialty];
  const picked = new Set([rng.pick(pool), rng.pick(pool)]);
  const rows = [...picked].map((p) => [p.display, p.code, utcDate(encounter.instant), 'Completed']);
  return htmlTable(['Procedure', 'CPT', 'Date', 'Status'], rows);
};

const assessment: SectionRenderer = (ctx) => {
  const problems = patientProblems(ctx.practice, ctx.patient);
  const addressed = problems.filter((_, i) => i === 0 || ctx.rng.chance(0.5));
  return htmlList(addressed.map((p) => `${p.display} (${p.code}): ${ctx.rng.pick(['stable', 'improving', 'progressing', 'new finding'])}.`));
};

const planOfCare: SectionRenderer = (ctx) => {
  const { rng } = ctx;
  const specific = ctx.practice.specialty === 'ophthalmology'
    ? rng.pick(['Continue current drops as prescribed.', 'Dilated fundus exam at next visit.', 'Repeat OCT in 6 months.'])
    : rng.pick(['Daily broad-spectrum SPF 30+ sunscreen.', 'Pathology results by phone within 2 weeks.', 'Wound care instructions given.']);
  return htmlList([
    specific,
    `Return in ${rng.pick(['2 weeks', '6 weeks', '3 months', '6 months', '1 year'])}.`,
    'Patient verbalized understanding of the plan.',
  ]);
};

/** Renderers of the visit sections (except Results), by category. */
export const VISIT_RENDERERS = {
  'Reason for Visit': reasonForVisit,
  'Chief Complaint': chiefComplaint,
  'History of Present Illness': presentIllness,
  'Review of Systems': reviewOfSystems,
  'Vital Signs': vitalSigns,
  Procedures: procedures,
  Assessment: assessment,
  'Plan of Care': planOfCare,
} satisfies Record<string, SectionRenderer>;
