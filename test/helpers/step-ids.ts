import type { Project } from '../../src/project/schema.js';

/** The ten steps of the coherence sheet: nine panels, then the composition. */
export function sheetStepIds(): string[] {
  return [...Array.from({ length: 9 }, (_, i) => `sheet:panel-${i + 1}`), 'sheet:compose'];
}

/** generate → promote → qa of each given shot. */
export function shotStepIds(shotIds: readonly string[]): string[] {
  return shotIds.flatMap((id) => [`generate:${id}`, `promote:${id}`, `qa:${id}`]);
}

/** Every step a full run of `project` has. */
export function allStepIds(project: Project): string[] {
  return [...sheetStepIds(), ...shotStepIds(project.shots.map((s) => s.id)), 'export', 'animatic'];
}

/** Sorted copy, for comparing step sets regardless of the order concurrent steps finished in. */
export function sorted(ids: Iterable<string>): string[] {
  return [...ids].sort();
}
