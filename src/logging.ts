/**
 * Structured JSON logs (pino). Log lines name routes, statuses and parameter names — never
 * header values, tokens, query values or anything from a patient record. The redaction list
 * is a safety net for fields that must never appear even if someone logs an object whole.
 */
import { pino, type Logger, type DestinationStream } from 'pino';

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'nextech-fhir-facade' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['authorization', 'headers.authorization', 'token', 'access_token', 'refresh_token', 'client_secret', '*.token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
