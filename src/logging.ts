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

/**
 * What a log line may say of an error: its name and its stack frames, never its message (the
 * stack's first line), which may carry request data — a URL with a chart number, a value.
 */
export function loggableError(err: unknown): { name: string; stack?: string } {
  if (!(err instanceof Error)) return { name: typeof err };
  const frames = err.stack?.split('\n').slice(1).join('\n');
  return { name: err.name, ...(frames ? { stack: frames } : {}) };
}
