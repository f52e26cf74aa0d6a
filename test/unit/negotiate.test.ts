// Content negotiation (src/fhir/negotiate.ts) as a table: Accept header and _format value
// (as the route hands it over, already URL-decoded) → served as FHIR JSON, or 406.
// https://hl7.org/fhir/R4/http.html#mime-type: _format overrides Accept.
import { describe, expect, it } from 'vitest';
import { assertJsonAcceptable } from '../../src/fhir/negotiate.ts';
import { FhirError } from '../../src/fhir/outcome.ts';

interface Case {
  accept?: string;
  format?: string;
  ok: boolean;
}

const cases: Case[] = [
  // Nothing asked for: JSON.
  { ok: true },
  { accept: '', ok: true },
  { accept: '   ', ok: true },
  { format: '', ok: true },
  // Accept alone.
  { accept: 'application/fhir+json', ok: true },
  { accept: 'application/fhir+json; fhirVersion=4.0', ok: true },
  { accept: 'application/json', ok: true },
  { accept: 'application/json+fhir', ok: true },
  { accept: 'Application/FHIR+JSON', ok: true },
  { accept: '*/*', ok: true },
  { accept: 'application/*', ok: true },
  { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', ok: true },
  { accept: 'application/fhir+xml, application/fhir+json;q=0.1', ok: true },
  { accept: 'application/json;q=abc', ok: true },
  { accept: 'application/fhir+xml', ok: false },
  { accept: 'application/xml', ok: false },
  { accept: 'text/html', ok: false },
  { accept: 'text/*', ok: false },
  { accept: 'application/json;q=0', ok: false },
  { accept: '*/*;q=0', ok: false },
  { accept: 'application/fhir+xml, application/json;q=0', ok: false },
  // _format alone.
  { format: 'json', ok: true },
  { format: 'JSON', ok: true },
  { format: 'application/json', ok: true },
  { format: 'application/fhir+json', ok: true },
  { format: 'application/json+fhir', ok: true },
  { format: 'xml', ok: false },
  { format: 'application/fhir+xml', ok: false },
  { format: 'text/html', ok: false },
  { format: 'ttl', ok: false },
  // _format wins over Accept, either way.
  { accept: 'application/fhir+xml', format: 'json', ok: true },
  { accept: 'text/html', format: 'application/fhir+json', ok: true },
  { accept: 'application/fhir+json', format: 'xml', ok: false },
  { accept: '*/*', format: 'application/xml', ok: false },
  // An empty _format falls back to Accept.
  { accept: 'application/fhir+xml', format: '', ok: false },
  // `_format=application/fhir+json` written unencoded decodes to "application/fhir json".
  { format: 'application/fhir json', ok: true },
];

const label = (c: Case) =>
  [c.accept === undefined ? 'no Accept' : `Accept ${JSON.stringify(c.accept)}`, c.format === undefined ? 'no _format' : `_format ${JSON.stringify(c.format)}`].join(', ');

describe('assertJsonAcceptable', () => {
  for (const c of cases) {
    it(`${c.ok ? 'serves JSON' : 'answers 406'} for ${label(c)}`, () => {
      let error: unknown;
      try {
        assertJsonAcceptable(c.accept, c.format);
      } catch (err) {
        error = err;
      }
      if (c.ok) {
        expect(error).toBeUndefined();
        return;
      }
      expect(error).toBeInstanceOf(FhirError);
      const { status, outcome } = error as FhirError;
      expect(status).toBe(406);
      expect(outcome.issue[0]?.code).toBe('not-supported');
    });
  }
});
