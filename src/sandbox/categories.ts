/**
 * The CCD section names the sandbox serves from `GET /ehr/api/encounters/categories`,
 * in the order they appear in a CCD. The real list is not documented; these are the
 * sections a typical ambulatory CCD carries.
 */

/** Every valid `section` value, in document order. */
export const SANDBOX_CATEGORIES = [
  'Reason for Visit',
  'Chief Complaint',
  'History of Present Illness',
  'Allergies',
  'Medications',
  'Problems',
  'Immunizations',
  'Family History',
  'Social History',
  'Review of Systems',
  'Vital Signs',
  'Results',
  'Procedures',
  'Assessment',
  'Plan of Care',
] as const;

/** One CCD section name. */
export type SandboxCategory = (typeof SANDBOX_CATEGORIES)[number];

/**
 * The category a `section` value names, compared case-insensitively (`allergies` and
 * `ALLERGIES` both mean Allergies), or undefined when it names none.
 */
export function canonicalCategory(name: string): SandboxCategory | undefined {
  const wanted = name.toLowerCase();
  return SANDBOX_CATEGORIES.find((c) => c.toLowerCase() === wanted);
}

/** The HTML id of a category's section, e.g. `plan-of-care`. */
export function categorySlug(category: SandboxCategory): string {
  return category.toLowerCase().replace(/[^a-z0-9]+/g, '-');
}
