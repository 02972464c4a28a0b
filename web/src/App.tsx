import { useEffect, useState } from 'react';
import { GenerationProgressModal } from './components/GenerationProgressModal.js';
import { ProjectEditor } from './components/ProjectEditor.js';
import { ProjectList } from './components/ProjectList.js';
import { ResultsView } from './components/ResultsView.js';
import { RunsPanel } from './components/RunsPanel.js';
import { SequenceGenerationControl } from './components/SequenceGenerationControl.js';
import { ProjectProvider, useProject } from './ProjectContext.js';

/** `#/`, `#/projects/<id>`, `#/projects/<id>/runs/<runId>`: links work, reload keeps the page. */
interface Route {
  projectId?: string;
  runId?: string;
}

function parseRoute(hash: string): Route {
  const parts = hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  if (parts[0] !== 'projects' || !parts[1]) return {};
  return { projectId: parts[1], ...(parts[2] === 'runs' && parts[3] ? { runId: parts[3] } : {}) };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

function ProjectPage({ runId }: { runId: string | undefined }) {
  const { project, projectId, loadError, isGenerating, activeRunId } = useProject();
  const [showProgress, setShowProgress] = useState(false);
  // A page opened mid-run shows the run's progress at once.
  useEffect(() => {
    if (isGenerating) setShowProgress(true);
  }, [isGenerating]);
  const view = (id: string): void => {
    setShowProgress(false);
    window.location.hash = `#/projects/${encodeURIComponent(projectId)}/runs/${encodeURIComponent(id)}`;
  };
  if (loadError)
    return (
      <p role="alert" className="error">
        {loadError}
      </p>
    );
  return (
    <>
      <nav aria-label="Breadcrumb">
        <a href="#/">Projects</a> / <span>{project?.name ?? projectId}</span>
        {runId && (
          <>
            {' '}
            / <a href={`#/projects/${encodeURIComponent(projectId)}`}>editor</a> / run <code>{runId}</code>
          </>
        )}
      </nav>
      <SequenceGenerationControl onOpenProgress={() => setShowProgress(true)} />
      <div className="layout">
        <main>{runId ? <ResultsView key={runId} runId={runId} /> : <ProjectEditor />}</main>
        <RunsPanel onView={view} />
      </div>
      {showProgress && activeRunId !== undefined && (
        <GenerationProgressModal
          onClose={() => setShowProgress(false)}
          onShowResults={() => activeRunId && view(activeRunId)}
        />
      )}
    </>
  );
}

export function App() {
  const route = useRoute();
  return (
    <div className="app">
      <header>
        <h1>
          <a href="#/">StoryCore studio</a>
        </h1>
      </header>
      {route.projectId ? (
        <ProjectProvider projectId={route.projectId}>
          <ProjectPage runId={route.runId} />
        </ProjectProvider>
      ) : (
        <ProjectList onOpen={(id) => (window.location.hash = `#/projects/${encodeURIComponent(id)}`)} />
      )}
    </div>
  );
}
