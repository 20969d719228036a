/**
 * Redox data model names as Redox writes them. Older spelled-out forms ("Clinical Summary")
 * and different casing name the same model (SPEC 5.7), so lookups go through `canonicalDataModel`.
 */
export const DATA_MODELS = [
  'Claim',
  'ClinicalDecisions',
  'ClinicalSummary',
  'Device',
  'Financial',
  'Flowsheet',
  'Inventory',
  'Media',
  'Medications',
  'Notes',
  'Order',
  'Organization',
  'PatientAdmin',
  'PatientEducation',
  'PatientSearch',
  'Provider',
  'Referral',
  'Research',
  'Results',
  'Scheduling',
  'SSO',
  'SurgicalScheduling',
  'Vaccination',
] as const;

export type DataModel = (typeof DATA_MODELS)[number];

const ALIASES: Record<string, DataModel> = {
  clinicaldecisionsupport: 'ClinicalDecisions',
};

const byKey = new Map<string, DataModel>(DATA_MODELS.map((name) => [key(name), name]));
for (const [alias, name] of Object.entries(ALIASES)) byKey.set(alias, name);

function key(name: string): string {
  return name.replace(/[\s_-]+/g, '').toLowerCase();
}

/** The canonical name of a data model, or undefined when it is not one Switchboard knows. */
export function canonicalDataModel(name: string): DataModel | undefined {
  return byKey.get(key(name));
}
