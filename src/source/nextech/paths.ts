/**
 * The Nextech EHR API's paths, relative to NEXTECH_BASE_URL, in one place. The vendor's own
 * documentation disagrees with itself on some of them (e.g. `/{patientId]/encounters/search`);
 * this is our reading of it. Each entry also has a logical endpoint name used for metrics,
 * logs and error messages, so no URL carrying patient values is ever logged.
 */
export const nextechPaths = {
  searchPatients: { name: 'patient-search', path: () => '/search' },
  searchEncounters: {
    name: 'encounter-search',
    path: (patientId: number) => `/${encodeURIComponent(String(patientId))}/encounters/search`,
  },
  categories: { name: 'encounter-categories', path: () => '/encounters/categories' },
} as const;

export type NextechEndpoint = (typeof nextechPaths)[keyof typeof nextechPaths]['name'];
