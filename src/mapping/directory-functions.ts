/**
 * Mapping functions for the directory resources (Practitioner, Location, Organization):
 * their ids, and the references encounter-based resources make to them. An encounter's
 * doctor, location and department become references a client can follow: ids hold the
 * data, or — when it does not fit — the encounter that named it (src/ids/directory-ids.ts).
 */
import { keyOf } from './encounter-functions.ts';
import type { MappingContext } from './context.ts';

interface SummaryLike {
  doctorId?: number | undefined;
  doctorFirstName?: string | undefined;
  doctorLastName?: string | undefined;
  doctorProfessionalDesignation?: string | undefined;
  location?: string | undefined;
  department?: string | undefined;
}

const summaryOf = (record: unknown): SummaryLike | undefined => {
  const s = (record as { summary?: unknown } | null)?.summary;
  return typeof s === 'object' && s !== null ? s : undefined;
};

/** The encounter a reference is made from, whole (never a section): the anchor of an id whose data does not fit. */
const anchorOf = (record: unknown, ctx: MappingContext) => {
  const key = keyOf(record, { ...ctx, values: { ...ctx.values, section: undefined } });
  return key && { encounterId: key.encounterId, date: key.date, patient: key.patient };
};

const ref = (type: string, id: string | undefined) => (id === undefined ? undefined : `${type}/${id}`);

/** `Practitioner/{id}` of an encounter's doctor. */
export function practitionerReference(record: unknown, ctx: MappingContext): string | undefined {
  const s = summaryOf(record);
  if (s?.doctorId === undefined) return undefined;
  return ref(
    'Practitioner',
    ctx.ids.practitioner.issue(
      { doctorId: s.doctorId, firstName: s.doctorFirstName, lastName: s.doctorLastName, designation: s.doctorProfessionalDesignation },
      anchorOf(record, ctx),
    ),
  );
}

/** `Location/{id}` of an encounter's location. */
export function locationReference(record: unknown, ctx: MappingContext): string | undefined {
  const name = summaryOf(record)?.location;
  return name ? ref('Location', ctx.ids.location.issue({ name }, anchorOf(record, ctx))) : undefined;
}

/** `Organization/{id}` of an encounter's department. */
export function departmentReference(record: unknown, ctx: MappingContext): string | undefined {
  const name = summaryOf(record)?.department;
  return name ? ref('Organization', ctx.ids.organization.issue({ kind: 'department', name }, anchorOf(record, ctx))) : undefined;
}

/** `Organization/{id}` of the practice. */
export function practiceReference(_record: unknown, ctx: MappingContext): string | undefined {
  return ref('Organization', ctx.ids.organization.issue({ kind: 'practice' }));
}

/** The id of a directory record, from the record itself (it is what the id seals). */
export function practitionerResourceId(record: unknown, ctx: MappingContext): string | undefined {
  const r = record as { doctorId?: unknown; firstName?: string; lastName?: string; designation?: string };
  return typeof r.doctorId === 'number'
    ? ctx.ids.practitioner.issue({ doctorId: r.doctorId, firstName: r.firstName, lastName: r.lastName, designation: r.designation })
    : undefined;
}

export function locationResourceId(record: unknown, ctx: MappingContext): string | undefined {
  const name = (record as { name?: unknown }).name;
  return typeof name === 'string' ? ctx.ids.location.issue({ name }) : undefined;
}

export function organizationResourceId(record: unknown, ctx: MappingContext): string | undefined {
  const r = record as { kind?: unknown; name?: unknown };
  if (r.kind === 'practice') return ctx.ids.organization.issue({ kind: 'practice' });
  return r.kind === 'department' && typeof r.name === 'string' ? ctx.ids.organization.issue({ kind: 'department', name: r.name }) : undefined;
}
