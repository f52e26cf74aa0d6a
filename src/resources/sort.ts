/**
 * Ordering of encounter-based results: by date, newest first unless `_sort=date` asks
 * otherwise, then by id so pages are stable.
 */
import type { SearchRequest } from '../fhir/search/types.ts';

export function byDate<T extends { id?: string | undefined }>(dateOf: (r: T) => string | undefined, req: SearchRequest) {
  const descending = req.sort?.descending ?? true;
  return (a: T, b: T): number => {
    const da = Date.parse(dateOf(a) ?? '') || 0;
    const db = Date.parse(dateOf(b) ?? '') || 0;
    if (da !== db) return descending ? db - da : da - db;
    return (a.id ?? '').localeCompare(b.id ?? '');
  };
}
