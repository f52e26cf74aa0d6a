/**
 * Directory records: the doctors, locations and departments an EHR names on its encounters,
 * and the practice itself, as records of their own. Nextech has no endpoint for them; what
 * it says of them is on each encounter's summary, and a directory resource's id carries
 * exactly that (src/ids/directory-ids.ts). Mappings read these shapes like any source record.
 */
import { z } from 'zod';

export const DirectoryPractitionerSchema = z.object({
  doctorId: z.number().int(),
  firstName: z.string().optional(),
  lastName: z.string().optional(),
  designation: z.string().optional(),
});
export type DirectoryPractitioner = z.infer<typeof DirectoryPractitionerSchema>;

export const DirectoryLocationSchema = z.object({ name: z.string().min(1) });
export type DirectoryLocation = z.infer<typeof DirectoryLocationSchema>;

export const DirectoryOrganizationSchema = z.object({
  /** The practice itself, or one of its departments. */
  kind: z.enum(['practice', 'department']),
  /** The department's name; for the practice, what we call it (Nextech gives only its id). */
  name: z.string().min(1),
});
export type DirectoryOrganization = z.infer<typeof DirectoryOrganizationSchema>;
