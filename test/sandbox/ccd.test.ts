import { describe, expect, it } from 'vitest';
import { SANDBOX_CATEGORIES } from '../../src/sandbox/categories.ts';
import { ccdFor } from '../../src/sandbox/ccd.ts';
import { buildSandboxData, findPatient, findPractice } from '../../src/sandbox/data.ts';
import { edgeCases, type SandboxEdgeCaseName } from '../../src/sandbox/edge-cases.ts';

const data = buildSandboxData();

function firstEncounterOf(name: SandboxEdgeCaseName, practiceId = '1001') {
  const [edge] = edgeCases(name, practiceId);
  const practice = findPractice(data, practiceId);
  const patient = edge && findPatient(data, practiceId, edge.patientId);
  const encounter = patient?.encounters[0];
  if (!practice || !patient || !encounter) throw new Error(`no ${name} encounter`);
  return { practice, patient, encounter };
}

describe('ccdFor', () => {
  it('writes a UTF-8 HTML5 document with a header and one section per category', () => {
    const { practice, patient, encounter } = firstEncounterOf('apostrophe-name');
    const ccd = ccdFor(practice, patient, encounter);
    expect(ccd.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>')).toBe(true);
    expect(ccd).toContain('<h1>Encounter Summary</h1>');
    expect(ccd.match(/<section /g)).toHaveLength(SANDBOX_CATEGORIES.length);
    expect(ccd).toContain(`<td>${patient.birthDate}</td>`);
  });

  it('escapes names interpolated into the HTML', () => {
    const { practice, patient, encounter } = firstEncounterOf('apostrophe-name');
    const ccd = ccdFor(practice, patient, encounter);
    expect(ccd).toContain('O&#39;Brien');
    expect(ccd).not.toContain("O'Brien");
    const derm = firstEncounterOf('apostrophe-name', '1002');
    expect(ccdFor(derm.practice, derm.patient, derm.encounter)).toContain('Bayview Dermatology &amp; Plastic Surgery');
  });

  it('shows the written birth date whatever the dob time or offset (under TZ=America/New_York)', () => {
    const trevor = edgeCases('dob-not-utc-midnight', '1001').find((e) => e.name === 'Trevor Ellingham');
    const patient = trevor && findPatient(data, '1001', trevor.patientId);
    const practice = findPractice(data, '1001');
    const encounter = patient?.encounters[0];
    if (!patient || !practice || !encounter) throw new Error('no Trevor encounter');
    expect(ccdFor(practice, patient, encounter)).toContain('<tr><th scope="row">Date of Birth</th><td>1968-12-31</td></tr>');
  });

  it('renders a section alone exactly as it appears in the full document', () => {
    const { practice, patient, encounter } = firstEncounterOf('many-encounters');
    const full = ccdFor(practice, patient, encounter);
    for (const category of SANDBOX_CATEGORIES) {
      const alone = ccdFor(practice, patient, encounter, category.toUpperCase());
      const section = /<section [\s\S]*<\/section>/.exec(alone)?.[0];
      expect(section).toBeDefined();
      expect(full).toContain(section);
      expect(section).toContain(`<h2>${category}</h2>`);
    }
  });

  it('is deterministic and throws for an unknown section', () => {
    const { practice, patient, encounter } = firstEncounterOf('diacritics');
    expect(ccdFor(practice, patient, encounter)).toBe(ccdFor(practice, patient, encounter));
    expect(() => ccdFor(practice, patient, encounter, 'Vitals')).toThrow(RangeError);
  });
});
