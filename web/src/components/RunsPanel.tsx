import { useState } from 'react';
import { api, runBody, type ApiError } from '../api.js';
import { useProject } from '../ProjectContext.js';

/** What `POST /api/comfyui/check` answers per server. */
interface ServerCheck {
  url: string;
  reachable: boolean;
  usable: boolean;
  version?: string;
  error?: string;
  queue?: { running: number; pending: number };
  devices?: Array<{ name: string; vramFree?: number }>;
  workflows: Array<{ source: string; valid: boolean; issues: Array<{ path: string; message: string }> }>;
}

/** One server's check as a line a person reads: usable or not, and why, with each workflow problem named. */
function CheckLine({ server }: { server: ServerCheck }) {
  const problems = server.workflows.flatMap((w) => w.issues);
  const state = !server.reachable ? 'unreachable' : server.usable ? 'usable' : 'not usable';
  return (
    <li data-usable={server.usable}>
      <span aria-hidden="true">{server.usable ? '✔' : '✖'}</span> <code>{server.url}</code>: {state}
      {server.version && <> · ComfyUI {server.version}</>}
      {server.queue && (
        <>
          {' '}
          · queue {server.queue.running} running, {server.queue.pending} waiting
        </>
      )}
      {server.error && <p className="error">{server.error}</p>}
      {problems.length > 0 && (
        <ul className="field-issues" aria-label={`Workflow problems on ${server.url}`}>
          {problems.map((p, i) => (
            <li key={i}>
              {p.path}: {p.message}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/** The project's run history (Resume where it can continue, Delete) and the backend a run uses. */
export function RunsPanel({ onView }: { onView: (runId: string) => void }) {
  const { runs, resumeRun, deleteRuns, isGenerating, backendSettings, setBackendSettings } = useProject();
  const [checking, setChecking] = useState(false);
  const [check, setCheck] = useState<ServerCheck[] | null>(null);
  const [checkError, setCheckError] = useState<string | null>(null);
  const [deleteError, setDeleteError] = useState<string | null>(null);
  const runCheck = async (): Promise<void> => {
    setChecking(true);
    setCheck(null);
    setCheckError(null);
    try {
      const { workflow, servers } = runBody({ ...backendSettings, backend: 'comfyui' }) as {
        workflow: unknown;
        servers: string[];
      };
      // Only what was given: no servers is the API's "list the servers to check", naming the field.
      const body = {
        ...(servers.length > 0 ? { servers } : {}),
        ...(workflow === '' ? {} : { workflow }),
      };
      setCheck(
        (await api<{ servers: ServerCheck[] }>('/api/comfyui/check', { method: 'POST', body })).servers,
      );
    } catch (error) {
      const e = error as ApiError;
      const issues = (e.issues ?? []).map((i) => `${i.path}: ${i.message}`);
      setCheckError([e.message, ...issues.filter((i) => !e.message.includes(i))].join(' — '));
    } finally {
      setChecking(false);
    }
  };
  const remove = async (which: string): Promise<void> => {
    const what = which === 'all' ? 'every run of this project' : `run ${which}`;
    if (!window.confirm(`Delete ${what}? Its frames and export go too.`)) return;
    setDeleteError(null);
    try {
      await deleteRuns(which);
      // Looking at a run that no longer exists: back to the editor.
      if (which === 'all' || window.location.hash.endsWith(`/runs/${encodeURIComponent(which)}`))
        window.location.hash = window.location.hash.replace(/\/runs\/.*$/, '');
    } catch (error) {
      setDeleteError((error as Error).message);
    }
  };
  return (
    <aside className="side">
      <section aria-label="Backend">
        <h3>Backend</h3>
        <label>
          <input
            type="radio"
            name="backend"
            checked={backendSettings.backend === 'draft'}
            onChange={() => setBackendSettings({ ...backendSettings, backend: 'draft' })}
          />{' '}
          Draft renderer (built in)
        </label>
        <label>
          <input
            type="radio"
            name="backend"
            checked={backendSettings.backend === 'comfyui'}
            onChange={() => setBackendSettings({ ...backendSettings, backend: 'comfyui' })}
          />{' '}
          ComfyUI
        </label>
        {backendSettings.backend === 'comfyui' && (
          <>
            <label>
              Server URLs (one per line)
              <textarea
                rows={2}
                value={backendSettings.servers.join('\n')}
                onChange={(e) =>
                  setBackendSettings({
                    ...backendSettings,
                    servers: e.target.value
                      .split('\n')
                      .map((s) => s.trim())
                      .filter(Boolean),
                  })
                }
              />
            </label>
            <label>
              Workflow (API format JSON, or a path on the server)
              <textarea
                rows={3}
                value={backendSettings.workflow}
                onChange={(e) => setBackendSettings({ ...backendSettings, workflow: e.target.value })}
              />
            </label>
            <button type="button" disabled={checking} onClick={() => void runCheck()}>
              Check connection
            </button>
            <div role="status" aria-label="Connection check">
              {checking && <p>Checking…</p>}
              {checkError && <p className="error">{checkError}</p>}
              {check && (
                <ul className="checks">
                  {check.map((server) => (
                    <CheckLine key={server.url} server={server} />
                  ))}
                </ul>
              )}
            </div>
          </>
        )}
      </section>
      <section aria-label="Runs">
        <h3>Runs</h3>
        {runs.length === 0 && <p>No runs yet.</p>}
        <ul className="runs">
          {runs.map((r) => (
            <li key={r.id} data-status={r.status}>
              <code>{r.id}</code>
              <span className={`status ${r.status}`}>{r.live ? 'running' : r.status}</span>
              <button type="button" onClick={() => onView(r.id)}>
                View
              </button>
              {r.resumable && !r.live && (
                <button type="button" disabled={isGenerating} onClick={() => void resumeRun(r.id)}>
                  Resume
                </button>
              )}
              {!r.live && (
                <button type="button" aria-label={`Delete run ${r.id}`} onClick={() => void remove(r.id)}>
                  Delete
                </button>
              )}
            </li>
          ))}
        </ul>
        {runs.length > 0 && (
          <button type="button" className="link" onClick={() => void remove('all')}>
            Delete all runs
          </button>
        )}
        {deleteError && (
          <p role="alert" className="error">
            {deleteError}
          </p>
        )}
      </section>
    </aside>
  );
}
