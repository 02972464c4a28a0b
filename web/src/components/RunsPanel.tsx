import { useState } from 'react';
import { api } from '../api.js';
import { useProject } from '../ProjectContext.js';

/** The project's run history (Resume where it can continue) and the backend a run uses. */
export function RunsPanel({ onView }: { onView: (runId: string) => void }) {
  const { runs, resumeRun, isGenerating, backendSettings, setBackendSettings } = useProject();
  const [check, setCheck] = useState<string | null>(null);
  const runCheck = async (): Promise<void> => {
    setCheck('checking…');
    try {
      const text = backendSettings.workflow.trim();
      const body: Record<string, unknown> = { servers: backendSettings.servers };
      if (text.startsWith('{')) body['workflow'] = JSON.parse(text) as unknown;
      const { servers } = await api<{
        servers: Array<{
          url: string;
          reachable: boolean;
          usable: boolean;
          version?: string;
          error?: string;
        }>;
      }>('/api/comfyui/check', { method: 'POST', body });
      setCheck(
        servers
          .map(
            (s) => `${s.url}: ${s.usable ? `ok (ComfyUI ${s.version ?? '?'})` : (s.error ?? 'not usable')}`,
          )
          .join('; '),
      );
    } catch (error) {
      setCheck((error as Error).message);
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
            <button type="button" onClick={() => void runCheck()}>
              Check connection
            </button>
            {check && <p role="status">{check}</p>}
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
            </li>
          ))}
        </ul>
      </section>
    </aside>
  );
}
