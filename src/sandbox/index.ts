/**
 * The sandbox's public surface in one import, for the facade's `npm start` and tests:
 * start or build a sandbox, its well-known credentials, its data types and fixtures.
 */
export { createSandbox, type Sandbox, type SandboxOptions, type RecordedCall, type SandboxClient } from './app.ts';
export { FAULT_KINDS, type Fault, type FaultControl, type FaultKind, type FaultRule } from './faults.ts';
export { parseFaultSpec } from './fault-spec.ts';
export { startSandbox, type RunningSandbox } from './server.ts';
export {
  DEFAULT_ACCESS_TOKEN_TTL_SECONDS,
  SANDBOX_CLIENT_ID,
  SANDBOX_CLIENT_SECRET,
  SANDBOX_PASSWORD,
  SANDBOX_REDIRECT_URI,
  SANDBOX_RESOURCE,
  SANDBOX_USERNAME,
} from './defaults.ts';
export { SANDBOX_PRACTICE_IDS } from './practices.ts';
export { SANDBOX_CATEGORIES, type SandboxCategory } from './categories.ts';
export { SANDBOX_EDGE_CASES, edgeCases, type SandboxEdgeCase, type SandboxEdgeCaseName } from './edge-cases.ts';
export type { ExtraPatientSpec } from './extra-patients.ts';
export { ccdFor, displayName } from './ccd.ts';
export { buildSandboxData, DEFAULT_SEED, findPatient, findPractice, type SandboxDataOptions } from './data.ts';
export { foldText, termMatcher } from './matching.ts';
export { parseBound } from './dates.ts';
export type * from './types.ts';
