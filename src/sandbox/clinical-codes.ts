/**
 * Clinical code tables the CCD writer draws from, kept as data (the FHIR-Converter way):
 * ICD-10-CM problems, medications, allergens, vaccines (CVX), procedures (CPT), lab tests
 * (LOINC) and visit reasons, split by specialty where the practices differ.
 */
import type { SandboxSpecialty } from './types.ts';

/** A coded entry: code system value plus display text. */
export interface Coded {
  code: string;
  display: string;
}

/** A lab test with its unit and reference range, for the Results section. */
export interface LabTest extends Coded {
  unit: string;
  low: number;
  high: number;
  decimals: number;
}

const c = (code: string, display: string): Coded => ({ code, display });

/** ICD-10-CM problems seen in each specialty. */
export const SPECIALTY_PROBLEMS: Readonly<Record<SandboxSpecialty, readonly Coded[]>> = {
  ophthalmology: [
    c('H40.1131', 'Primary open-angle glaucoma, bilateral, mild stage'),
    c('H25.13', 'Age-related nuclear cataract, bilateral'),
    c('H35.3131', 'Nonexudative age-related macular degeneration, bilateral, early dry stage'),
    c('E11.3293', 'Type 2 diabetes mellitus with mild nonproliferative diabetic retinopathy without macular edema, bilateral'),
    c('H04.123', 'Dry eye syndrome of bilateral lacrimal glands'),
    c('H52.13', 'Myopia, bilateral'),
    c('H52.4', 'Presbyopia'),
    c('H43.813', 'Vitreous degeneration, bilateral'),
    c('Z96.1', 'Presence of intraocular lens'),
  ],
  dermatology: [
    c('L57.0', 'Actinic keratosis'),
    c('C44.311', 'Basal cell carcinoma of skin of nose'),
    c('L82.1', 'Other seborrheic keratosis'),
    c('L70.0', 'Acne vulgaris'),
    c('L40.0', 'Psoriasis vulgaris'),
    c('L20.9', 'Atopic dermatitis, unspecified'),
    c('D22.5', 'Melanocytic nevi of trunk'),
    c('L71.9', 'Rosacea, unspecified'),
    c('Z85.828', 'Personal history of other malignant neoplasm of skin'),
    c('H02.834', 'Dermatochalasis of left upper eyelid'),
  ],
};

/** Problems common in any adult practice. */
export const GENERAL_PROBLEMS: readonly Coded[] = [
  c('I10', 'Essential (primary) hypertension'),
  c('E78.5', 'Hyperlipidemia, unspecified'),
  c('E11.9', 'Type 2 diabetes mellitus without complications'),
  c('J45.909', 'Unspecified asthma, uncomplicated'),
  c('K21.9', 'Gastro-esophageal reflux disease without esophagitis'),
  c('E03.9', 'Hypothyroidism, unspecified'),
];

/** Medication and sig pairs, by specialty and general. */
export const SPECIALTY_MEDICATIONS: Readonly<Record<SandboxSpecialty, readonly Coded[]>> = {
  ophthalmology: [
    c('Latanoprost 0.005% ophthalmic solution', 'Instill 1 drop in both eyes at bedtime'),
    c('Timolol maleate 0.5% ophthalmic solution', 'Instill 1 drop in both eyes twice daily'),
    c('Brimonidine 0.2% ophthalmic solution', 'Instill 1 drop in the right eye three times daily'),
    c('Prednisolone acetate 1% ophthalmic suspension', 'Instill 1 drop in the operative eye four times daily'),
    c('Carboxymethylcellulose 0.5% eye drops', 'Instill 1–2 drops in both eyes as needed'),
  ],
  dermatology: [
    c('Tretinoin 0.05% cream', 'Apply a pea-sized amount to the face at bedtime'),
    c('Clobetasol propionate 0.05% ointment', 'Apply thinly to affected areas twice daily for up to 2 weeks'),
    c('Doxycycline hyclate 100 mg capsule', 'Take 1 capsule by mouth twice daily with food'),
    c('Fluorouracil 5% cream', 'Apply to treated areas twice daily for 3 weeks'),
    c('Tacrolimus 0.1% ointment', 'Apply to affected areas twice daily'),
  ],
};

/** Medications common in any adult practice. */
export const GENERAL_MEDICATIONS: readonly Coded[] = [
  c('Lisinopril 10 mg tablet', 'Take 1 tablet by mouth daily'),
  c('Atorvastatin 20 mg tablet', 'Take 1 tablet by mouth at bedtime'),
  c('Metformin 500 mg tablet', 'Take 1 tablet by mouth twice daily with meals'),
  c('Levothyroxine 50 mcg tablet', 'Take 1 tablet by mouth every morning'),
  c('Amlodipine 5 mg tablet', 'Take 1 tablet by mouth daily'),
  c('Omeprazole 20 mg capsule', 'Take 1 capsule by mouth before breakfast'),
];

/** Allergen and typical reaction. */
export const ALLERGENS: readonly Coded[] = [
  c('Penicillin', 'Hives'),
  c('Sulfonamide antibiotics', 'Rash'),
  c('Latex', 'Contact dermatitis'),
  c('Codeine', 'Nausea and vomiting'),
  c('Shellfish', 'Anaphylaxis'),
  c('Neomycin', 'Contact dermatitis'),
  c('Adhesive tape', 'Blistering'),
  c('Iodinated contrast', 'Itching'),
];

/** Vaccines by CVX code. */
export const VACCINES: readonly Coded[] = [
  c('141', 'Influenza, seasonal, injectable'),
  c('115', 'Tdap'),
  c('187', 'Zoster vaccine recombinant'),
  c('216', 'Pneumococcal conjugate vaccine, 20 valent'),
  c('43', 'Hepatitis B vaccine, adult dosage'),
  c('208', 'COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose'),
];

/** CPT procedures by specialty. */
export const SPECIALTY_PROCEDURES: Readonly<Record<SandboxSpecialty, readonly Coded[]>> = {
  ophthalmology: [
    c('92014', 'Comprehensive ophthalmological examination, established patient'),
    c('92133', 'Scanning computerized ophthalmic imaging, optic nerve'),
    c('92134', 'Scanning computerized ophthalmic imaging, retina'),
    c('92083', 'Visual field examination, extended'),
    c('66984', 'Extracapsular cataract removal with insertion of intraocular lens'),
    c('67028', 'Intravitreal injection of a pharmacologic agent'),
  ],
  dermatology: [
    c('17000', 'Destruction of premalignant lesion, first lesion'),
    c('11102', 'Tangential biopsy of skin, single lesion'),
    c('17311', 'Mohs micrographic surgery, head and neck, first stage'),
    c('11402', 'Excision, benign lesion, trunk, 1.1 to 2.0 cm'),
    c('15823', 'Blepharoplasty, upper eyelid, with excessive skin'),
    c('96910', 'Photochemotherapy with ultraviolet B'),
  ],
};

/** Reasons for visit by specialty; the chief complaint echoes one in the patient's words. */
export const SPECIALTY_REASONS: Readonly<Record<SandboxSpecialty, readonly Coded[]>> = {
  ophthalmology: [
    c('Blurred vision, right eye', 'My right eye has been blurry for a few weeks.'),
    c('Glaucoma follow-up', 'Here to have my eye pressure checked.'),
    c('New floaters, left eye', 'I keep seeing spots drifting across my left eye.'),
    c('Dry eye symptoms', 'My eyes feel gritty and burn by the afternoon.'),
    c('Cataract evaluation', 'Glare from headlights makes it hard to drive at night.'),
    c('Annual diabetic eye exam', 'Yearly eye check for my diabetes.'),
  ],
  dermatology: [
    c('Changing mole, upper back', 'My wife says a mole on my back looks darker.'),
    c('Annual full-body skin examination', 'Yearly skin check.'),
    c('Pruritic rash, forearms', 'Itchy rash on both arms for a month.'),
    c('Acne follow-up', 'Checking in on my acne treatment.'),
    c('Bleeding lesion, nose', 'A spot on my nose keeps bleeding and will not heal.'),
    c('Upper eyelid surgery consultation', 'My eyelids droop and get in the way when I read.'),
  ],
};

/** Lab tests by LOINC code with unit and reference range. */
export const LAB_TESTS: readonly LabTest[] = [
  { code: '4548-4', display: 'Hemoglobin A1c', unit: '%', low: 4, high: 5.6, decimals: 1 },
  { code: '2345-7', display: 'Glucose, serum', unit: 'mg/dL', low: 70, high: 99, decimals: 0 },
  { code: '2160-0', display: 'Creatinine, serum', unit: 'mg/dL', low: 0.6, high: 1.3, decimals: 2 },
  { code: '2951-2', display: 'Sodium, serum', unit: 'mmol/L', low: 135, high: 145, decimals: 0 },
  { code: '2823-3', display: 'Potassium, serum', unit: 'mmol/L', low: 3.5, high: 5.1, decimals: 1 },
  { code: '718-7', display: 'Hemoglobin', unit: 'g/dL', low: 12, high: 17.5, decimals: 1 },
  { code: '6690-2', display: 'Leukocytes', unit: '10³/µL', low: 4, high: 11, decimals: 1 },
  { code: '777-3', display: 'Platelets', unit: '10³/µL', low: 150, high: 400, decimals: 0 },
  { code: '13457-7', display: 'LDL cholesterol, calculated', unit: 'mg/dL', low: 0, high: 99, decimals: 0 },
  { code: '3016-3', display: 'Thyrotropin (TSH)', unit: 'mIU/L', low: 0.4, high: 4, decimals: 2 },
  { code: '79892-6', display: 'Intraocular pressure, right eye', unit: 'mm[Hg]', low: 10, high: 21, decimals: 0 },
  { code: '79893-4', display: 'Intraocular pressure, left eye', unit: 'mm[Hg]', low: 10, high: 21, decimals: 0 },
];

/** Family history entries: relative and condition. */
export const FAMILY_HISTORY: readonly Coded[] = [
  c('Mother', 'Glaucoma'),
  c('Father', 'Type 2 diabetes mellitus'),
  c('Sister', 'Melanoma'),
  c('Mother', 'Age-related macular degeneration'),
  c('Father', 'Hypertension'),
  c('Maternal grandmother', 'Breast cancer'),
  c('Brother', 'Psoriasis'),
];

/** Review-of-systems findings when a system is not negative. */
export const ROS_POSITIVES: Readonly<Record<string, string>> = {
  Constitutional: 'Reports fatigue',
  Eyes: 'Reports intermittent blurred vision',
  'Ears, nose, throat': 'Reports seasonal nasal congestion',
  Cardiovascular: 'Reports ankle swelling by evening',
  Respiratory: 'Reports occasional dry cough',
  Skin: 'Reports itching and new spots',
  Neurological: 'Reports occasional headaches',
};
