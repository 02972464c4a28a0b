import {
  formatDuration,
  getProgressColor,
  getStageDisplayName,
  getStageIcon,
  PIPELINE_STAGES,
} from '../../../src/core/status-tracker.js';
import { useProject } from '../ProjectContext.js';
import type { RunErrorView } from '../run-events.js';
import { Modal } from './Modal.js';

const FRIENDLY: Record<string, string> = {
  'backend-unreachable': 'Cannot reach the image backend; check that the server is running and reachable.',
  'backend-rejected': 'The image backend rejected the request.',
  'backend-failed': 'The image backend failed while working on the request.',
  'rate-limited': 'The image backend is busy and asked us to slow down.',
  timeout: 'The image backend took too long to answer.',
  validation: 'Something in the project or settings is not valid.',
  'qa-failed': 'A frame did not pass quality checks.',
  'export-failed': 'The export could not be written.',
  store: 'The workspace could not be read or written.',
};

function ErrorItem({ error }: { error: RunErrorView }) {
  return (
    <li className="error">
      <strong>{error.shotId ? `Shot ${error.shotId}` : 'Run'}:</strong>{' '}
      {FRIENDLY[error.code] ?? 'Something went wrong.'}
      <details>
        <summary>Details</summary>
        <p>{error.message}</p>
        {error.rootCause && <p>Cause: {error.rootCause}</p>}
        <p>
          Code: <code>{error.code}</code>
          {error.stage ? ` · stage ${getStageDisplayName(error.stage)}` : ''}
        </p>
      </details>
    </li>
  );
}

/** The note's progress modal: the five stages with their names, icons and colours, the bar, shots, time, frames. */
export function GenerationProgressModal({
  onClose,
  onShowResults,
}: {
  onClose: () => void;
  onShowResults: () => void;
}) {
  const { run, frames, isGenerating, cancelGeneration, generationStatus } = useProject();
  // A finished run is 100 % whatever the last logged percent was (the log keeps whole percents).
  const progress = run.phase === 'succeeded' ? 100 : Math.round(generationStatus?.progress ?? 0);
  // A shot's live preview is its thumbnail until its frame arrives.
  const framed = new Set(frames.map((f) => f.shotId));
  const rendering = isGenerating ? Object.entries(run.previews).filter(([shot]) => !framed.has(shot)) : [];
  const stageColour = getProgressColor(
    run.phase === 'failed'
      ? 'error'
      : run.phase === 'succeeded'
        ? 'complete'
        : (generationStatus?.stage ?? 'idle'),
  );
  const title =
    run.phase === 'succeeded'
      ? 'Sequence generated'
      : run.phase === 'cancelled'
        ? 'Generation cancelled'
        : run.phase === 'failed'
          ? 'Generation failed'
          : 'Generating sequence';
  return (
    <Modal title={title} onClose={onClose}>
      <ol className="stages" aria-label="Stages">
        {PIPELINE_STAGES.map((stage) => (
          <li
            key={stage}
            className={`stage ${run.stages[stage]}`}
            style={{ borderColor: getProgressColor(stage) }}
            data-stage={stage}
            data-state={run.stages[stage]}
          >
            <span aria-hidden="true">{getStageIcon(stage)}</span> {getStageDisplayName(stage)}
            <span className="visually-hidden">: {run.stages[stage]}</span>
          </li>
        ))}
      </ol>
      <div
        className="bar"
        role="progressbar"
        aria-label="Overall progress"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={progress}
      >
        <div
          className={`fill${isGenerating ? '' : ' settled'}`}
          style={{ width: `${progress}%`, background: stageColour }}
        />
      </div>
      <p className="numbers">
        <span data-testid="progress-percent">{progress} %</span>
        {run.totalShots > 0 && (
          <span>
            {' '}
            · shot {Math.min(run.shotsDone, run.totalShots)} of {run.totalShots}
          </span>
        )}
        {generationStatus?.elapsedMs !== undefined && (
          <span> · elapsed {formatDuration(generationStatus.elapsedMs)}</span>
        )}
        {isGenerating && generationStatus?.etaMs !== undefined && generationStatus.etaMs > 0 && (
          <span> · remaining {formatDuration(generationStatus.etaMs)}</span>
        )}
      </p>
      {generationStatus?.message && <p className="message">{generationStatus.message}</p>}
      {run.warnings.length > 0 && (
        <ul className="notices" aria-label="Warnings">
          {run.warnings.map((n) => (
            <li key={n.key}>⚠ {n.text}</li>
          ))}
        </ul>
      )}
      {run.retries.length > 0 && (
        <ul className="notices" aria-label="Retries">
          {run.retries.map((n) => (
            <li key={n.key}>{n.text}</li>
          ))}
        </ul>
      )}
      {run.errors.length > 0 && (
        <ul className="errors" aria-label="Errors">
          {run.errors.map((e) => (
            <ErrorItem key={e.key} error={e} />
          ))}
        </ul>
      )}
      <ul className="thumbs" aria-label="Frames so far">
        {frames.map((f) => (
          <li key={f.shotId}>
            <img src={f.imageUrl} alt={`Frame ${f.shotId}`} width={96} />
          </li>
        ))}
        {rendering.map(([shotId, p]) => (
          <li key={shotId} className="rendering">
            <img
              src={p.src}
              alt={`Shot ${shotId} rendering`}
              width={96}
              height={Math.round((96 * p.height) / p.width)}
              data-testid="live-preview"
            />
          </li>
        ))}
      </ul>
      <div className="actions">
        {isGenerating && (
          <button type="button" className="danger" onClick={() => void cancelGeneration()}>
            Cancel
          </button>
        )}
        {!isGenerating && run.runId && (
          <button type="button" className="primary" onClick={onShowResults}>
            View results
          </button>
        )}
        <button type="button" onClick={onClose}>
          {isGenerating ? 'Hide' : 'Close'}
        </button>
      </div>
    </Modal>
  );
}
