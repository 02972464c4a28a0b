import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fs-atomic.js';
import { idProblem, type Project } from '../project/schema.js';
import { validateProject } from '../project/validate.js';

export interface ProjectSummary {
  id: string;
  name: string;
  shots: number;
  updatedAt: string;
}

/**
 * The studio's projects: one validated `project.json` per project under `<workspace>/projects/<id>.json`, written
 * atomically. The file is the same contract the CLI reads, so `storycore generate <workspace>/projects/x.json`
 * works on anything made in the browser.
 */
export class ProjectRepository {
  readonly dir: string;

  constructor(workspace: string) {
    this.dir = join(workspace, 'projects');
  }

  async list(): Promise<ProjectSummary[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const out: ProjectSummary[] = [];
    for (const name of names.filter((n) => n.endsWith('.json')).sort()) {
      const id = name.slice(0, -'.json'.length);
      const project = await this.get(id).catch(() => undefined);
      if (!project) continue;
      out.push({ id, name: project.name, shots: project.shots.length, updatedAt: project.updatedAt });
    }
    return out;
  }

  async get(id: string): Promise<Project & { updatedAt: string }> {
    const path = this.pathOf(id);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT')
        throw new NotFoundError(`no project "${id}"`, { details: { projectId: id } });
      throw error;
    });
    const info = await stat(path);
    return { ...validated(JSON.parse(text) as unknown), updatedAt: info.mtime.toISOString() };
  }

  /** Stores a new project; its `id` must not be taken. */
  async create(doc: unknown): Promise<Project> {
    const project = validated(doc);
    if (await this.exists(project.id)) {
      throw new ConflictError(`a project with id "${project.id}" already exists`, {
        details: { projectId: project.id },
      });
    }
    await this.write(project, doc);
    return project;
  }

  /** Replaces a project; the document's `id` must be the one in the URL (ids name runs and files). */
  async replace(id: string, doc: unknown): Promise<Project> {
    const project = validated(doc);
    if (project.id !== id) {
      throw new ValidationError(`the project's id "${project.id}" differs from "${id}" in the URL`, [
        { path: '$.id', message: `must be "${id}"` },
      ]);
    }
    if (!(await this.exists(id)))
      throw new NotFoundError(`no project "${id}"`, { details: { projectId: id } });
    await this.write(project, doc);
    return project;
  }

  async remove(id: string): Promise<void> {
    if (!(await this.exists(id)))
      throw new NotFoundError(`no project "${id}"`, { details: { projectId: id } });
    await rm(this.pathOf(id));
  }

  private async exists(id: string): Promise<boolean> {
    return readFile(this.pathOf(id)).then(
      () => true,
      () => false,
    );
  }

  private async write(_project: Project, doc: unknown): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    // The document as the user wrote it (defaults not filled in), so a later schema default change still applies.
    const id = (doc as { id: string }).id;
    await writeFileAtomic(this.pathOf(id), `${JSON.stringify(doc, null, 2)}\n`);
  }

  /** Ids are checked before they touch the file system: they come from URLs. */
  private pathOf(id: string): string {
    const problem = idProblem(id, 'project id');
    if (problem)
      throw new ValidationError(`invalid project id in the URL: ${problem}`, [
        { path: 'id', message: problem },
      ]);
    return join(this.dir, `${id}.json`);
  }
}

function validated(doc: unknown): Project {
  const result = validateProject(doc);
  if (!result.ok) {
    const count = result.issues.length === 1 ? '1 problem' : `${result.issues.length} problems`;
    throw new ValidationError(`not a valid StoryCore project (${count})`, result.issues);
  }
  return result.project;
}
