/**
 * Writing one member's lines to its job's files: each type's lines go to its latest part
 * until `perFile` resources, then a new part starts. Every frame is written at the length
 * the job's state records for its file (export-files.ts), so a write never lands after bytes
 * the last checkpoint does not cover. Returns the state to checkpoint; nothing here saves it.
 */
import { join } from 'node:path';
import type { FhirResource } from 'fhir/r4';
import { frameAad, sealFrame, writeFrameAt } from './export-files.ts';
import type { FilePart, Job } from './export-jobs.ts';

/** One frame written, as the test-only hook learns it. */
export interface WrittenFrame {
  job: string;
  /** The file's path. */
  file: string;
  /** `first`: a type's first file; `next-part`: a later part, new; `append`: a file already holding lines. */
  kind: 'first' | 'next-part' | 'append';
  /** Where the frame starts and ends in the file. */
  from: number;
  to: number;
}

/**
 * Test-only: the crash tests stop the process between a write and the checkpoint that
 * covers it (test/helpers/export-crash-entry.ts). Production entries never pass hooks.
 */
export interface ExportHooks {
  /** Called once a frame is durably written, before the job's checkpoint. */
  written?(w: WrittenFrame): void;
}

/** Appends the member's lines to the job's files (a new part past `perFile`); returns the state to checkpoint. */
export async function writeMember(job: Job, folder: string, lines: Map<string, FhirResource[]>, key: Buffer, hooks?: ExportHooks): Promise<Job> {
  const files = [...job.files];
  for (const [type, resources] of lines) {
    let rest = resources;
    while (rest.length > 0) {
      let part = [...files].reverse().find((f) => f.type === type);
      let kind: WrittenFrame['kind'] = 'append';
      if (!part || part.count >= job.perFile) {
        kind = part ? 'next-part' : 'first';
        const n = files.filter((f) => f.type === type).length + 1;
        part = { name: `${type}-${n}.ndjson`, type, count: 0, bytes: 0 };
        files.push(part);
      }
      const room = job.perFile - part.count;
      const chunk = rest.slice(0, room);
      rest = rest.slice(room);
      const file = join(folder, part.name);
      const aad = frameAad({ practiceId: job.practiceId, jobId: job.id, name: part.name }, part.bytes);
      const frame = sealFrame(aad, key, chunk.map((r) => JSON.stringify(r)).join('\n') + '\n');
      const bytes = await writeFrameAt(file, part.bytes, frame);
      hooks?.written?.({ job: job.id, file, kind, from: part.bytes, to: bytes });
      const updated: FilePart = { ...part, count: part.count + chunk.length, bytes };
      files[files.indexOf(part)] = updated;
    }
  }
  return { ...job, files };
}
