import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import { validateProject } from '../../src/project/validate.js';
import type { ValidationIssue } from '../../src/core/errors.js';
import {
  api,
  runBody,
  type BackendSettings,
  type GenerationStatus,
  type ProjectInput,
  type RunInfo,
  type StudioResults,
} from './api.js';
import { useRunEvents, useRunFrames, type RunView } from './run-events.js';
import type { FrameResult } from '../../src/server/results.js';

/** The note's ProjectContext, backed by the API and the run's event stream. */
export interface ProjectContextValue {
  projectId: string;
  /** The document being edited (what PUT sends). */
  project: ProjectInput | null;
  setProject: (project: ProjectInput) => void;
  /** Live validation with the CLI's rules and messages (the same schema). */
  issues: ValidationIssue[];
  dirty: boolean;
  saveProject: () => Promise<void>;
  loadError: string | null;
  saveError: string | null;

  /** Starts a run (saving first) and resolves when it settles: results, or null when cancelled or failed as a whole. */
  generateSequence: () => Promise<StudioResults | null>;
  cancelGeneration: () => Promise<void>;
  resumeRun: (runId: string) => Promise<void>;
  /** Deletes one run, or every run of the project (`'all'`); rejects with the server's message (409: a live run). */
  deleteRuns: (which: string | 'all') => Promise<void>;
  generationStatus: GenerationStatus | null;
  isGenerating: boolean;
  /** Why Generate is disabled, or null when it is enabled. */
  generateBlockedBy: string | null;
  startError: string | null;

  activeRunId: string | null;
  run: RunView;
  frames: FrameResult[];
  results: StudioResults | null;
  runs: RunInfo[];
  refreshRuns: () => Promise<void>;
  backendSettings: BackendSettings;
  setBackendSettings: (settings: BackendSettings) => void;
}

const Context = createContext<ProjectContextValue | null>(null);

export function useProject(): ProjectContextValue {
  const value = useContext(Context);
  if (!value) throw new Error('useProject needs a <ProjectProvider>');
  return value;
}

export function ProjectProvider({ projectId, children }: { projectId: string; children: ReactNode }) {
  const [project, setProjectState] = useState<ProjectInput | null>(null);
  const [dirty, setDirty] = useState(false);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);
  const [startError, setStartError] = useState<string | null>(null);
  const [runs, setRuns] = useState<RunInfo[]>([]);
  const [activeRunId, setActiveRunId] = useState<string | null>(null);
  /** Bumped on resume: the same run id gets a new stream. */
  const [attempt, setAttempt] = useState(0);
  const [backendSettings, setBackendSettings] = useState<BackendSettings>({
    backend: 'draft',
    servers: [],
    workflow: '',
  });
  const waiters = useRef<Array<(results: StudioResults | null) => void>>([]);

  const refreshRuns = useCallback(async () => {
    const list = await api<{ runs: RunInfo[] }>(`/api/runs?project=${encodeURIComponent(projectId)}`);
    setRuns(list.runs);
  }, [projectId]);

  useEffect(() => {
    let cancelled = false;
    setProjectState(null);
    setActiveRunId(null);
    api<ProjectInput & { updatedAt?: string }>(`/api/projects/${encodeURIComponent(projectId)}`)
      .then((doc) => {
        if (cancelled) return;
        const { updatedAt: _updatedAt, ...rest } = doc;
        setProjectState(rest as ProjectInput);
        setDirty(false);
      })
      .catch((error: Error) => !cancelled && setLoadError(error.message));
    // A page opened (or reloaded) while a run is live picks it up: the stream replays what happened so far.
    api<{ runs: RunInfo[] }>(`/api/runs?project=${encodeURIComponent(projectId)}`)
      .then((list) => {
        if (cancelled) return;
        setRuns(list.runs);
        const live = list.runs.find((r) => r.live);
        if (live) setActiveRunId(live.id);
      })
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [projectId]);

  const onFinished = useCallback(
    (view: RunView) => {
      void refreshRuns();
      if (!view.runId) return;
      const settle = (results: StudioResults | null): void => {
        for (const resolve of waiters.current.splice(0)) resolve(results);
      };
      if (view.phase === 'cancelled') return settle(null);
      api<StudioResults>(`/api/runs/${encodeURIComponent(view.runId)}/results`)
        .then((results) => settle(results.success || results.errors.length > 0 ? results : null))
        .catch(() => settle(null));
    },
    [refreshRuns],
  );
  const run = useRunEvents(activeRunId, attempt, onFinished);
  const { frames, results } = useRunFrames(activeRunId, run.shotsDone, run.phase);
  const isGenerating = activeRunId !== null && (run.phase === 'running' || run.phase === 'connecting');

  const issues = useMemo(() => {
    if (!project) return [];
    const result = validateProject(project);
    return result.ok ? [] : result.issues;
  }, [project]);

  const setProject = useCallback((next: ProjectInput) => {
    setProjectState(next);
    setDirty(true);
  }, []);

  const saveProject = useCallback(async () => {
    if (!project) return;
    setSaveError(null);
    try {
      await api(`/api/projects/${encodeURIComponent(projectId)}`, { method: 'PUT', body: project });
      setDirty(false);
    } catch (error) {
      setSaveError((error as Error).message);
      throw error;
    }
  }, [project, projectId]);

  const generateBlockedBy = !project
    ? 'the project is loading'
    : isGenerating
      ? 'a run is in progress'
      : issues.length > 0
        ? `fix ${issues.length === 1 ? 'the problem' : `the ${issues.length} problems`} in the project first`
        : null;

  const generateSequence = useCallback(async (): Promise<StudioResults | null> => {
    setStartError(null);
    try {
      if (dirty) await saveProject();
      const { runId } = await api<{ runId: string }>(`/api/projects/${encodeURIComponent(projectId)}/runs`, {
        method: 'POST',
        body: runBody(backendSettings),
      });
      const settled = new Promise<StudioResults | null>((resolve) => waiters.current.push(resolve));
      setActiveRunId(runId);
      setAttempt((n) => n + 1);
      void refreshRuns();
      return await settled;
    } catch (error) {
      setStartError((error as Error).message);
      return null;
    }
  }, [dirty, saveProject, projectId, backendSettings, refreshRuns]);

  const cancelGeneration = useCallback(async () => {
    if (!activeRunId) return;
    await api(`/api/runs/${encodeURIComponent(activeRunId)}/cancel`, { method: 'POST' }).catch(
      (error: Error) => setStartError(error.message),
    );
  }, [activeRunId]);

  const resumeRun = useCallback(
    async (runId: string) => {
      setStartError(null);
      try {
        await api(`/api/runs/${encodeURIComponent(runId)}/resume`, {
          method: 'POST',
          body: runBody(backendSettings),
        });
        // Same id, new stream (a new attempt): the replay rebuilds the view from the run's whole log.
        setActiveRunId(runId);
        setAttempt((n) => n + 1);
        void refreshRuns();
      } catch (error) {
        setStartError((error as Error).message);
      }
    },
    [backendSettings, refreshRuns],
  );

  const deleteRuns = useCallback(
    async (which: string) => {
      try {
        const { deleted } = await api<{ deleted: string[] }>(
          which === 'all'
            ? `/api/projects/${encodeURIComponent(projectId)}/runs`
            : `/api/runs/${encodeURIComponent(which)}`,
          { method: 'DELETE' },
        );
        if (activeRunId && deleted.includes(activeRunId)) setActiveRunId(null);
      } finally {
        await refreshRuns().catch(() => undefined);
      }
    },
    [projectId, activeRunId, refreshRuns],
  );

  const value: ProjectContextValue = {
    projectId,
    project,
    setProject,
    issues,
    dirty,
    saveProject,
    loadError,
    saveError,
    generateSequence,
    cancelGeneration,
    resumeRun,
    deleteRuns,
    generationStatus: run.status,
    isGenerating,
    generateBlockedBy,
    startError,
    activeRunId,
    run,
    frames,
    results,
    runs,
    refreshRuns,
    backendSettings,
    setBackendSettings,
  };
  return <Context.Provider value={value}>{children}</Context.Provider>;
}
