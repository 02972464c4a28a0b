import { useEffect, useReducer, useRef, useState } from 'react';
import { PIPELINE_STAGES, type PipelineStage } from '../../src/core/status-tracker.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import type { FrameResult } from '../../src/server/results.js';
import { api, type GenerationStatus, type StudioResults } from './api.js';

export type StageState = 'pending' | 'active' | 'done' | 'error';
export type RunPhase = 'connecting' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface RunNotice {
  key: string;
  text: string;
}

/** A shot's live preview while it renders (ComfyUI's sampler previews), as an image source. */
export interface ShotPreview {
  src: string;
  width: number;
  height: number;
}

export interface RunErrorView {
  key: string;
  code: string;
  message: string;
  rootCause?: string;
  shotId?: string;
  stage?: PipelineStage;
}

/** Everything the progress modal draws, folded from the run's event stream (the same events the CLI renders). */
export interface RunView {
  runId: string | null;
  phase: RunPhase;
  status: GenerationStatus | null;
  stages: Record<PipelineStage, StageState>;
  totalShots: number;
  /** Shots whose QA finished (executed or reused). */
  shotsDone: number;
  retries: RunNotice[];
  /** The run's warnings (a queue no worker serves, a worker that cannot take the run's jobs), newest last. */
  warnings: RunNotice[];
  errors: RunErrorView[];
  /** The latest live preview per shot (transient: sent without an id, never replayed; the frame replaces it). */
  previews: Record<string, ShotPreview>;
  lastEventId: number;
}

/** A `preview` message's data: the pipeline's preview event without its type. */
export type PreviewData = Omit<Extract<PipelineEvent, { type: 'preview' }>, 'type'>;

const EVENT_TYPES: ReadonlyArray<PipelineEvent['type']> = [
  'run-started',
  'stage-started',
  'stage-completed',
  'step-started',
  'step-reused',
  'step-completed',
  'step-failed',
  'progress',
  'warning',
  'run-finished',
];

const pendingStages = (): Record<PipelineStage, StageState> =>
  Object.fromEntries(PIPELINE_STAGES.map((s) => [s, 'pending'])) as Record<PipelineStage, StageState>;

export const initialRunView = (runId: string | null): RunView => ({
  runId,
  phase: 'connecting',
  status: null,
  stages: pendingStages(),
  totalShots: 0,
  shotsDone: 0,
  retries: [],
  warnings: [],
  errors: [],
  previews: {},
  lastEventId: 0,
});

type Action =
  | { type: 'reset'; runId: string | null }
  | { type: 'event'; id: number; event: PipelineEvent }
  | { type: 'preview'; preview: PreviewData };

/** Pure: the same events in the same order always give the same view (a replay after a reload rebuilds it). */
export function reduceRunView(view: RunView, action: Action): RunView {
  if (action.type === 'reset') return initialRunView(action.runId);
  if (action.type === 'preview') {
    // No id, no replay: only the newest counts, and the modal stops showing it once the shot has its frame.
    const p = action.preview;
    return {
      ...view,
      previews: {
        ...view.previews,
        [p.shotId]: { src: `data:${p.mime};base64,${p.data}`, width: p.width, height: p.height },
      },
    };
  }
  // Replays after a reconnect start after the last id seen; anything older is a duplicate.
  if (action.id <= view.lastEventId) return view;
  const e = action.event;
  const next: RunView = { ...view, lastEventId: action.id };
  switch (e.type) {
    case 'run-started':
      // A resumed run's log holds its earlier attempts too: each start begins a fresh view.
      return {
        ...initialRunView(view.runId),
        lastEventId: action.id,
        phase: 'running',
        totalShots: e.totalShots,
      };
    case 'stage-started':
      return { ...next, phase: 'running', stages: { ...view.stages, [e.stage]: 'active' } };
    case 'stage-completed':
      return { ...next, stages: { ...view.stages, [e.stage]: 'done' } };
    case 'step-completed':
    case 'step-reused':
      return e.stage === 'qa' && e.shotId ? { ...next, shotsDone: view.shotsDone + 1 } : next;
    case 'step-failed': {
      const key = `${action.id}`;
      if (e.next === 'retry') {
        const text = `${e.shotId ? `Shot ${e.shotId}` : e.stepId}: ${e.error.message} — retrying (attempt ${e.attempt + 1})${e.delayMs ? ` in ${Math.round(e.delayMs / 100) / 10} s` : ''}`;
        return { ...next, retries: [...view.retries, { key, text }].slice(-5) };
      }
      return {
        ...next,
        stages: { ...view.stages, [e.stage]: 'error' },
        errors: [
          ...view.errors,
          {
            key,
            code: String(e.error.code),
            message: e.error.message,
            ...(e.error.rootCause ? { rootCause: e.error.rootCause } : {}),
            ...(e.shotId ? { shotId: e.shotId } : {}),
            stage: e.stage,
          },
        ],
      };
    }
    case 'warning':
      return { ...next, warnings: [...view.warnings, { key: `${action.id}`, text: e.message }].slice(-5) };
    case 'progress':
      return {
        ...next,
        phase: 'running',
        status: {
          stage: e.stage,
          progress: e.progress,
          currentShot: e.currentShot,
          totalShots: e.totalShots,
          elapsedMs: e.elapsedMs,
          etaMs: e.etaMs,
          estimatedCompletion: e.estimatedCompletion,
          stageProgress: e.stageProgress,
          ...(e.message === undefined ? {} : { message: e.message }),
        },
      };
    case 'run-finished': {
      const errors =
        e.error && view.errors.length === 0 && e.status === 'failed'
          ? [
              {
                key: `${action.id}`,
                code: String(e.error.code),
                message: e.error.message,
                ...(e.error.rootCause ? { rootCause: e.error.rootCause } : {}),
              },
            ]
          : view.errors;
      return { ...next, phase: e.status, errors };
    }
    default:
      return next;
  }
}

/**
 * One hook per server stream (house style 18): opens the run's EventSource, which resends `Last-Event-ID` by itself
 * when the connection drops, so the view misses nothing; a fresh page replays the log from the start.
 * `attempt` changes open a new stream for the same run (after a resume). `onFinished` runs once when the run settles.
 */
export function useRunEvents(
  runId: string | null,
  attempt: number,
  onFinished?: (view: RunView) => void,
): RunView {
  const [view, dispatch] = useReducer(reduceRunView, runId, initialRunView);
  const finished = useRef(onFinished);
  finished.current = onFinished;
  const latest = useRef(view);
  latest.current = view;

  useEffect(() => {
    dispatch({ type: 'reset', runId });
    if (!runId) return;
    const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`, {
      withCredentials: true,
    });
    let done = false;
    for (const type of EVENT_TYPES) {
      source.addEventListener(type, (message: MessageEvent<string>) => {
        dispatch({
          type: 'event',
          id: Number(message.lastEventId),
          event: JSON.parse(message.data) as PipelineEvent,
        });
      });
    }
    source.addEventListener('preview', (message: MessageEvent<string>) => {
      dispatch({ type: 'preview', preview: JSON.parse(message.data) as PreviewData });
    });
    source.addEventListener('end', () => {
      done = true;
      source.close();
      // Let the reducer apply the last events before telling anyone.
      setTimeout(() => finished.current?.(latest.current), 0);
    });
    return () => {
      if (!done) source.close();
    };
  }, [runId, attempt]);
  return view;
}

/** The run's frames so far, refreshed as shots finish (at most every 400 ms). */
export function useRunFrames(
  runId: string | null,
  shotsDone: number,
  phase: RunPhase,
): {
  frames: FrameResult[];
  results: StudioResults | null;
} {
  const [results, setResults] = useState<StudioResults | null>(null);
  const lastFetch = useRef(0);
  useEffect(() => {
    setResults(null);
  }, [runId]);
  useEffect(() => {
    if (!runId) return;
    let current = true;
    const wait = Math.max(0, lastFetch.current + 400 - Date.now());
    const timer = setTimeout(() => {
      lastFetch.current = Date.now();
      // Not aborted when a newer shot finishes: a steady stream of shots must not starve the thumbnails.
      api<StudioResults>(`/api/runs/${encodeURIComponent(runId)}/results`)
        .then((r) => {
          if (current || r.runId === runId) setResults(r);
        })
        .catch(() => undefined);
    }, wait);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [runId, shotsDone, phase]);
  return { frames: results?.frames ?? [], results };
}
