import { useEffect, useState } from 'react';
import { api, type StudioResults } from '../api.js';

/** A finished (or partial) run: the sheet and its visual DNA, frames with QA, before/after of fixed frames, export. */
export function ResultsView({ runId }: { runId: string }) {
  const [results, setResults] = useState<StudioResults | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setResults(null);
    api<StudioResults>(`/api/runs/${encodeURIComponent(runId)}/results`)
      .then(setResults)
      .catch((e: Error) => setError(e.message));
  }, [runId]);
  if (error)
    return (
      <p role="alert" className="error">
        {error}
      </p>
    );
  if (!results) return <p>Loading results…</p>;
  return (
    <section className="results" aria-label="Results">
      <h2>
        Results{' '}
        <small>
          ({results.status}, QA {results.qaReport.overallScore} / 100)
        </small>
      </h2>
      {results.exportPackageUrl && (
        <p>
          <a className="button primary" href={results.exportPackageUrl} download>
            Download export (.zip)
          </a>
        </p>
      )}
      {results.errors.length > 0 && (
        <ul className="errors">
          {results.errors.map((e) => (
            <li key={e.shotId} className="error">
              Shot {e.shotId} failed at {e.stage}: {e.rootCause ?? e.message}
            </li>
          ))}
        </ul>
      )}
      {results.masterCoherenceSheetUrl && (
        <div className="sheet">
          <figure>
            <img src={results.masterCoherenceSheetUrl} alt="Master coherence sheet" />
            <figcaption>Master coherence sheet</figcaption>
          </figure>
          {results.visualDna && (
            <div>
              <h3>Visual DNA</h3>
              <ul className="swatches" aria-label="Palette">
                {results.visualDna.palette.map((c) => (
                  <li key={c.hex}>
                    <span className="swatch" style={{ background: c.hex }} />
                    {c.hex} · {Math.round(c.weight * 100)} %
                  </li>
                ))}
              </ul>
              <p>
                {Math.round(results.visualDna.colorTemperatureK)} K · contrast{' '}
                {results.visualDna.contrastRms.toFixed(2)}
              </p>
            </div>
          )}
        </div>
      )}
      <ul className="frames" aria-label="Frames">
        {results.frames.map((f) => (
          <li key={f.shotId} className="frame">
            {f.beforeUrl ? (
              <div className="before-after">
                <figure>
                  <img src={f.beforeUrl} alt={`Shot ${f.shotId} before autofix`} />
                  <figcaption>Before ({f.initialScore})</figcaption>
                </figure>
                <figure>
                  <img src={f.imageUrl} alt={`Shot ${f.shotId} after autofix`} />
                  <figcaption>After ({f.qaScore})</figcaption>
                </figure>
              </div>
            ) : (
              <img src={f.imageUrl} alt={`Shot ${f.shotId}`} />
            )}
            <p>
              <strong>{f.shotId}</strong> · QA <span data-testid="qa-score">{f.qaScore}</span>
              {f.passed ? ' ✓' : ' ✗'}
            </p>
            {f.issues.length > 0 && <p className="issues-inline">Issues: {f.issues.join(', ')}</p>}
            {f.autofixApplied && (
              <p className="fixed">
                Autofixed:{' '}
                {f.fixes
                  .filter((x) => x.kept)
                  .flatMap((x) => x.actions)
                  .join(', ') || 'yes'}
              </p>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
