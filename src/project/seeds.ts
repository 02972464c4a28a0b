import { deriveGlobalSeed, deriveShotSeed } from '../core/seeds.js';
import type { Project, Shot } from './schema.js';

/** The project's seed: the one it pins, else one derived from its id (stable across machines and runs). */
export function resolveGlobalSeed(project: Pick<Project, 'id' | 'globalSeed'>): number {
  return project.globalSeed ?? deriveGlobalSeed(project.id);
}

/** A shot's seed: the one it pins, else one derived from the project seed and the shot id. */
export function resolveShotSeed(
  project: Pick<Project, 'id' | 'globalSeed'>,
  shot: Pick<Shot, 'id' | 'seed'>,
): number {
  return shot.seed ?? deriveShotSeed(resolveGlobalSeed(project), shot.id);
}
