import type { ProjectInput } from '../api.js';
import { useProject } from '../ProjectContext.js';

type Shot = ProjectInput['shots'][number];

/** Issues whose JSON path is `path` (exactly) — shown under the field they are about. */
function FieldIssues({ path, issues }: { path: string; issues: Array<{ path: string; message: string }> }) {
  const mine = issues.filter((i) => i.path === path);
  if (mine.length === 0) return null;
  return (
    <ul className="field-issues" id={`issue-${path}`}>
      {mine.map((i) => (
        <li key={i.message}>{i.message}</li>
      ))}
    </ul>
  );
}

function nextShotId(shots: readonly Shot[]): string {
  for (let n = shots.length + 1; ; n++) {
    const id = `shot-${String(n).padStart(2, '0')}`;
    if (!shots.some((s) => s.id.toLowerCase() === id)) return id;
  }
}

/** Style, output size and shots (add, remove, reorder, edit), validated live with the CLI's rules. */
export function ProjectEditor() {
  const { project, setProject, issues, dirty, saveProject, saveError } = useProject();
  if (!project) return <p>Loading…</p>;
  const shots = project.shots;
  const output = project.output ?? { width: 1920, height: 1080 };
  const update = (patch: Partial<ProjectInput>): void => setProject({ ...project, ...patch });
  const updateShot = (index: number, patch: Partial<Shot>): void =>
    update({ shots: shots.map((s, i) => (i === index ? { ...s, ...patch } : s)) });
  const move = (index: number, by: number): void => {
    const next = [...shots];
    const [shot] = next.splice(index, 1);
    next.splice(index + by, 0, shot!);
    update({ shots: next });
  };
  const invalid = (path: string): { 'aria-invalid'?: true; 'aria-describedby'?: string } =>
    issues.some((i) => i.path === path) ? { 'aria-invalid': true, 'aria-describedby': `issue-${path}` } : {};
  return (
    <form
      className="editor"
      onSubmit={(e) => (e.preventDefault(), void saveProject().catch(() => undefined))}
    >
      <fieldset>
        <legend>Project</legend>
        <label>
          Name
          <input
            value={project.name}
            onChange={(e) => update({ name: e.target.value })}
            {...invalid('$.name')}
          />
        </label>
        <FieldIssues path="$.name" issues={issues} />
        <label>
          Style prompt
          <textarea
            rows={2}
            value={project.style.prompt}
            onChange={(e) => update({ style: { ...project.style, prompt: e.target.value } })}
            {...invalid('$.style.prompt')}
          />
        </label>
        <FieldIssues path="$.style.prompt" issues={issues} />
        <div className="row">
          <label>
            Width (px)
            <input
              type="number"
              value={output.width}
              onChange={(e) => update({ output: { ...output, width: Number(e.target.value) } })}
              {...invalid('$.output.width')}
            />
          </label>
          <label>
            Height (px)
            <input
              type="number"
              value={output.height}
              onChange={(e) => update({ output: { ...output, height: Number(e.target.value) } })}
              {...invalid('$.output.height')}
            />
          </label>
        </div>
        <FieldIssues path="$.output.width" issues={issues} />
        <FieldIssues path="$.output.height" issues={issues} />
      </fieldset>
      <fieldset>
        <legend>Shots ({shots.length})</legend>
        <ol className="shots">
          {shots.map((shot, index) => (
            <li key={index} className="shot">
              <label>
                Shot {index + 1} id
                <input
                  value={shot.id}
                  onChange={(e) => updateShot(index, { id: e.target.value })}
                  {...invalid(`$.shots[${index}].id`)}
                />
              </label>
              <FieldIssues path={`$.shots[${index}].id`} issues={issues} />
              <label>
                Shot {index + 1} prompt
                <textarea
                  rows={2}
                  value={shot.prompt}
                  onChange={(e) => updateShot(index, { prompt: e.target.value })}
                  {...invalid(`$.shots[${index}].prompt`)}
                />
              </label>
              <FieldIssues path={`$.shots[${index}].prompt`} issues={issues} />
              <div className="shot-actions">
                <button
                  type="button"
                  aria-label={`Move shot ${index + 1} up`}
                  disabled={index === 0}
                  onClick={() => move(index, -1)}
                >
                  ↑
                </button>
                <button
                  type="button"
                  aria-label={`Move shot ${index + 1} down`}
                  disabled={index === shots.length - 1}
                  onClick={() => move(index, 1)}
                >
                  ↓
                </button>
                <button
                  type="button"
                  aria-label={`Remove shot ${index + 1}`}
                  onClick={() => update({ shots: shots.filter((_, i) => i !== index) })}
                >
                  Remove
                </button>
              </div>
            </li>
          ))}
        </ol>
        <FieldIssues path="$.shots" issues={issues} />
        <button
          type="button"
          onClick={() => update({ shots: [...shots, { id: nextShotId(shots), prompt: '' }] })}
        >
          Add shot
        </button>
      </fieldset>
      {issues.length > 0 && (
        <section className="issues" aria-label="Problems">
          <h3>
            {issues.length} problem{issues.length === 1 ? '' : 's'}
          </h3>
          <ul>
            {issues.map((i) => (
              <li key={`${i.path}:${i.message}`}>
                <code>{i.path}</code>: {i.message}
              </li>
            ))}
          </ul>
        </section>
      )}
      <div className="actions">
        <button type="submit" disabled={!dirty || issues.length > 0}>
          {dirty ? 'Save' : 'Saved'}
        </button>
        {saveError && (
          <span role="alert" className="error">
            {saveError}
          </span>
        )}
      </div>
    </form>
  );
}
