import { useProject } from '../ProjectContext.js';

/** The note's Generate button: disabled with the reason when it cannot run; Cancel while a run is live. */
export function SequenceGenerationControl({ onOpenProgress }: { onOpenProgress: () => void }) {
  const { generateSequence, cancelGeneration, isGenerating, generateBlockedBy, startError } = useProject();
  return (
    <div className="generate-control">
      <button
        type="button"
        className="primary"
        disabled={generateBlockedBy !== null}
        aria-describedby={generateBlockedBy ? 'generate-reason' : undefined}
        onClick={() => {
          onOpenProgress();
          void generateSequence();
        }}
      >
        Generate
      </button>
      {isGenerating && (
        <>
          <button type="button" onClick={onOpenProgress}>
            Show progress
          </button>
          <button type="button" className="danger" onClick={() => void cancelGeneration()}>
            Cancel
          </button>
        </>
      )}
      {generateBlockedBy && (
        <span id="generate-reason" className="reason">
          Generate is disabled: {generateBlockedBy}
        </span>
      )}
      {startError && (
        <p role="alert" className="error">
          {startError}
        </p>
      )}
    </div>
  );
}
