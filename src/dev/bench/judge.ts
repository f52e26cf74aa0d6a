/**
 * The figures the targets judge, computed from what the runs measured, and whether
 * each target was met. Pure functions of the results.
 */
import type { DuplicatesResult, PagingResult, Step } from './economy.ts';
import type { OverheadResult } from './overhead.ts';
import type { OverheadScenario } from './scenarios.ts';

export interface Verdict {
  /** The figure in words, e.g. "0.14× the proxy's req/s". */
  figure: string;
  value: number;
  /** How the value came about, e.g. "6 ÷ 4". */
  detail?: string;
  target?: string;
  met?: boolean;
}

export function judgeOverhead(s: OverheadScenario, r: OverheadResult): Verdict[] {
  const verdicts: Verdict[] = [];
  switch (s.figure) {
    case 'reqPerSec':
    case 'bytesPerSec': {
      const value = r.facade[s.figure] / r.proxy[s.figure];
      const unit = s.figure === 'reqPerSec' ? 'req/s' : 'bytes/s';
      const min = s.target?.minRatio;
      verdicts.push({
        figure: `facade ÷ proxy ${unit}`,
        value,
        ...(min === undefined ? {} : { target: `≥ ${min}×`, met: value >= min }),
      });
      // Bytes on the two sides are not the same bytes (base64 FHIR vs escaped HTML): the like-for-like ratio too.
      if (s.figure === 'bytesPerSec') verdicts.push({ figure: 'facade ÷ proxy req/s', value: r.facade.reqPerSec / r.proxy.reqPerSec });
      break;
    }
    case 'addedP50': {
      const value = r.facade.p50Ms - r.proxy.p50Ms;
      const max = s.target?.maxAddedP50Ms;
      verdicts.push({ figure: 'added p50 (ms)', value, ...(max === undefined ? {} : { target: `≤ ${max} ms`, met: value <= max }) });
      break;
    }
  }
  const h = r.handwritten;
  if (h && s.kind === 'throughput') {
    verdicts.push({ figure: 'facade ÷ hand-written req/s', value: r.facade.reqPerSec / h.reqPerSec });
  }
  const fc = r.facade.cpuMsPerRequest.server;
  const hc = h?.cpuMsPerRequest.server;
  if (fc !== undefined && hc !== undefined && hc > 0) {
    const most = s.target?.maxCpuRatioToHandwritten;
    const value = fc / hc;
    verdicts.push({ figure: 'facade CPU per request ÷ hand-written\'s', value, ...(most === undefined ? {} : { target: `≤ ${most}×`, met: value <= most }) });
  }
  const max = s.peakRss?.maxMb;
  if (s.peakRss && r.peakRssBytes !== undefined) {
    const mb = r.peakRssBytes / 1048576;
    verdicts.push({ figure: 'facade peak RSS (MB)', value: mb, ...(max === undefined ? {} : { target: `< ${max} MB`, met: mb < max }) });
  }
  return verdicts;
}

export function judgePaging(p: PagingResult): Verdict {
  const next = p.pages.slice(1).reduce((n, s) => n + s.upstreamCalls, 0);
  return { figure: 'upstream calls of the next pages', value: next, detail: `pages 2–${p.pages.length}`, target: '0', met: next === 0 };
}

export function judgeDuplicates(d: DuplicatesResult): Verdict {
  const extra = d.facade.upstreamCalls - d.callsPerRequest;
  return {
    figure: 'upstream calls of the duplicates',
    value: extra,
    detail: `${d.facade.upstreamCalls} calls for ${d.facade.requests} identical requests at once; one alone makes ${d.callsPerRequest}`,
    target: '0',
    met: extra <= 0,
  };
}

export function judgeSession(steps: Step[]): Verdict {
  const calls = steps.reduce((n, s) => n + s.upstreamCalls, 0);
  const value = calls === 0 ? Number.POSITIVE_INFINITY : steps.length / calls;
  return { figure: 'FHIR interactions per upstream call', value, detail: `${steps.length} ÷ ${calls}`, target: '≥ 1.5', met: value >= 1.5 };
}
