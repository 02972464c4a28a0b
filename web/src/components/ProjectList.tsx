import { useEffect, useState } from 'react';
import type { ApiError } from '../api.js';
import { api, type ProjectSummary } from '../api.js';

/** A new project's id from its name: what the CLI accepts as a file name and step id. */
function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 64) || 'project'
  );
}

export function ProjectList({ onOpen }: { onOpen: (id: string) => void }) {
  const [projects, setProjects] = useState<ProjectSummary[] | null>(null);
  const [name, setName] = useState('');
  const [error, setError] = useState<string | null>(null);
  const refresh = (): void => {
    api<{ projects: ProjectSummary[] }>('/api/projects')
      .then((r) => setProjects(r.projects))
      .catch((e: Error) => setError(e.message));
  };
  useEffect(refresh, []);
  const create = async (): Promise<void> => {
    setError(null);
    const id = slug(name);
    try {
      await api('/api/projects', {
        method: 'POST',
        body: {
          schemaVersion: 1,
          id,
          name: name.trim() || id,
          style: { prompt: 'cinematic storyboard illustration, soft light' },
          output: { width: 1280, height: 720 },
          shots: [{ id: 'shot-01', prompt: 'Describe what the first shot shows' }],
        },
      });
      onOpen(id);
    } catch (e) {
      const err = e as ApiError;
      setError(
        err.issues?.length
          ? `${err.message}: ${err.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`
          : err.message,
      );
    }
  };
  return (
    <section className="projects" aria-label="Projects">
      <h2>Projects</h2>
      <form className="row" onSubmit={(e) => (e.preventDefault(), void create())}>
        <label>
          New project name
          <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <button type="submit" className="primary">
          Create project
        </button>
      </form>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      {projects === null ? (
        <p>Loading…</p>
      ) : projects.length === 0 ? (
        <p>No projects yet: name one above.</p>
      ) : (
        <ul className="project-list">
          {projects.map((p) => (
            <li key={p.id}>
              <a href={`#/projects/${encodeURIComponent(p.id)}`}>{p.name}</a> <small>({p.shots} shots)</small>
              <button
                type="button"
                aria-label={`Delete ${p.name}`}
                onClick={() =>
                  void api(`/api/projects/${encodeURIComponent(p.id)}`, { method: 'DELETE' })
                    .then(refresh)
                    .catch((e: Error) => setError(e.message))
                }
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
