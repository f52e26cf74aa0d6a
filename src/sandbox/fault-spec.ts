/**
 * `parseFaultSpec`: the compact text form of fault rules, as given in `SANDBOX_FAULTS`
 * (read by `npm run sandbox`) and usable by the facade's benchmarks.
 *
 * Grammar (spaces around tokens are ignored; empty rules, e.g. a trailing `;`, are skipped):
 *
 *   spec  = rule *( ";" rule )
 *   rule  = kind [ "=" arg ] [ "@" rate ]
 *   rate  = a decimal from 0 to 1 (default 1): the probability per request
 *
 *   kind            arg                    example
 *   latency         ms (required)          latency=200
 *   status          code[:retry-seconds]   status=503@0.1   status=503:30
 *                   code is 500|502|503|504 (required)
 *   rate-limit      [retry-seconds]        rate-limit=2@0.05   rate-limit
 *   reset           none                   reset@0.01
 *   truncate        none                   truncate@0.02
 *   malformed-json  none                   malformed-json@0.01
 *   schema-break    none                   schema-break@0.01
 *   slow-drip       chunk-bytes:interval-ms slow-drip=512:50@0.1
 *
 * Rules keep their order, which matters: see faults.ts for how rules are chosen.
 */
import { assertFaultRule, FAULT_KINDS, type Fault, type FaultKind, type FaultRule } from './faults.ts';

const INTEGER = /^\d{1,9}$/;
const RATE = /^(0(\.\d+)?|1(\.0+)?|\.\d+)$/;

function integer(text: string, what: string): number {
  if (!INTEGER.test(text)) throw new Error(`${what} must be a whole number, got "${text}"`);
  return Number(text);
}

function noArg(kind: FaultKind, arg: string | undefined): void {
  if (arg !== undefined) throw new Error(`${kind} takes no argument`);
}

function required(kind: FaultKind, arg: string | undefined, form: string): string {
  if (arg === undefined || arg === '') throw new Error(`${kind} needs an argument: ${kind}=${form}`);
  return arg;
}

function statusFault(arg: string): Fault {
  const [code = '', retryAfter, ...extra] = arg.split(':');
  const status = integer(code, 'status code');
  if (status !== 500 && status !== 502 && status !== 503 && status !== 504) {
    throw new Error(`status code must be 500, 502, 503 or 504, got ${status}`);
  }
  if (extra.length > 0) throw new Error('status takes code[:retry-seconds]');
  if (retryAfter === undefined) return { kind: 'status', status };
  return { kind: 'status', status, retryAfter: String(integer(retryAfter, 'status Retry-After seconds')) };
}

function slowDripFault(arg: string): Fault {
  const parts = arg.split(':');
  if (parts.length !== 2) throw new Error('slow-drip takes chunk-bytes:interval-ms');
  return { kind: 'slow-drip', chunkBytes: integer(parts[0] ?? '', 'slow-drip chunk bytes'), intervalMs: integer(parts[1] ?? '', 'slow-drip interval ms') };
}

function faultOf(kind: FaultKind, arg: string | undefined): Fault {
  switch (kind) {
    case 'latency':
      return { kind, ms: integer(required(kind, arg, '<ms>'), 'latency ms') };
    case 'status':
      return statusFault(required(kind, arg, '<code>[:<retry-seconds>]'));
    case 'rate-limit':
      return arg === undefined ? { kind } : { kind, retryAfter: String(integer(arg, 'rate-limit Retry-After seconds')) };
    case 'slow-drip':
      return slowDripFault(required(kind, arg, '<chunk-bytes>:<interval-ms>'));
    case 'reset':
    case 'truncate':
    case 'malformed-json':
    case 'schema-break':
      noArg(kind, arg);
      return { kind };
  }
}

function parseRule(text: string): FaultRule {
  const at = text.split('@');
  if (at.length > 2) throw new Error('more than one "@"');
  const [head = '', rateText] = at.map((s) => s.trim());
  const eq = head.indexOf('=');
  const name = (eq === -1 ? head : head.slice(0, eq)).trim();
  const arg = eq === -1 ? undefined : head.slice(eq + 1).trim();
  const kind = FAULT_KINDS.find((k) => k === name);
  if (!kind) throw new Error(`unknown fault kind "${name}" (known: ${FAULT_KINDS.join(', ')})`);
  const rule: FaultRule = { fault: faultOf(kind, arg) };
  if (rateText !== undefined) {
    if (!RATE.test(rateText)) throw new Error(`rate must be a decimal from 0 to 1, got "${rateText}"`);
    rule.rate = Number(rateText);
  }
  assertFaultRule(rule);
  return rule;
}

/**
 * Parses a fault spec such as `latency=200;status=503@0.1;rate-limit=2@0.05;reset@0.01`
 * into rules (grammar in the module header). An empty spec means no faults. Throws an
 * Error naming the offending rule on anything else.
 */
export function parseFaultSpec(spec: string): FaultRule[] {
  return spec
    .split(';')
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      try {
        return parseRule(part);
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        throw new Error(`Invalid fault spec rule "${part}": ${why}.`);
      }
    });
}
