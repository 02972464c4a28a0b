import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isCancellation } from '../src/core/errors.js';
import type { Project } from '../src/project/schema.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import {
  executedSince,
  lastExecutionId,
  runOn,
  stepCompleted,
  type HarnessRun,
} from './helpers/pipeline-harness.js';
import { makeProject, shotId } from './helpers/project-factory.js';
import { allStepIds, sheetStepIds, shotStepIds, sorted } from './helpers/step-ids.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

const SHOTS = 6;
const project = makeProject({ id: 'resume-table', shots: SHOTS });
const shots = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => shotId(from + i));
const panels = (from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `sheet:panel-${from + i}`);

interface ResumeRow {
  journal: string;
  /** Builds the journal for real: a run that is cancelled, or fails, at a chosen point. */
  build: (ws: TempWorkspace) => Promise<HarnessRun>;
  /** 'cancelled' or 'failed': how the building run ended. */
  endedAs: 'cancelled' | 'failed' | 'succeeded';
  /** `resume <run>` continues the same run; `generate` starts a new run of the same project. */
  continueWith: 'resume' | 'generate';
  expected: string[];
}

const rows: ResumeRow[] = [
  {
    journal: 'nothing (cancelled as it started)',
    build: (ws) => runOn(ws, project, { cancelWhen: (e) => e.type === 'run-started' }),
    endedAs: 'cancelled',
    continueWith: 'resume',
    expected: allStepIds(project),
  },
  {
    journal: 'sheet panels 1–4',
    build: (ws) => runOn(ws, project, { concurrency: 1, cancelWhen: stepCompleted('sheet:panel-4') }),
    endedAs: 'cancelled',
    continueWith: 'resume',
    expected: [...panels(5, 9), 'sheet:compose', ...shotStepIds(shots(1, SHOTS)), 'export', 'animatic'],
  },
  {
    journal: 'the whole sheet',
    build: (ws) => runOn(ws, project, { cancelWhen: stepCompleted('sheet:compose') }),
    endedAs: 'cancelled',
    continueWith: 'resume',
    expected: [...shotStepIds(shots(1, SHOTS)), 'export', 'animatic'],
  },
  {
    journal: 'the sheet and shots 1–3',
    build: (ws) => runOn(ws, project, { concurrency: 1, cancelWhen: stepCompleted(`qa:${shotId(3)}`) }),
    endedAs: 'cancelled',
    continueWith: 'resume',
    expected: [...shotStepIds(shots(4, SHOTS)), 'export', 'animatic'],
  },
  {
    journal: 'the sheet and shots 1–3',
    build: (ws) => runOn(ws, project, { concurrency: 1, cancelWhen: stepCompleted(`qa:${shotId(3)}`) }),
    endedAs: 'cancelled',
    continueWith: 'generate',
    expected: [...shotStepIds(shots(4, SHOTS)), 'export', 'animatic'],
  },
  {
    journal: 'the sheet and shots 1–3, with shots 4–6 failed for good',
    build: (ws) => {
      const backend = new FaultInjectingBackend();
      for (const id of shots(4, SHOTS)) backend.failShot(id, { kind: 'rejected' });
      return runOn(ws, project, { backend });
    },
    endedAs: 'failed',
    continueWith: 'resume',
    expected: [...shotStepIds(shots(4, SHOTS)), 'export', 'animatic'],
  },
  {
    journal: 'everything but the export',
    build: (ws) => runOn(ws, project, { concurrency: 1, cancelWhen: stepCompleted(`qa:${shotId(SHOTS)}`) }),
    endedAs: 'cancelled',
    continueWith: 'resume',
    expected: ['export', 'animatic'],
  },
  {
    journal: 'everything',
    build: (ws) => runOn(ws, project),
    endedAs: 'succeeded',
    continueWith: 'resume',
    expected: [],
  },
];

/** Steps the run's journal records as finished (executed or reused). */
function finishedInJournal(ws: TempWorkspace, runId: string): string[] {
  return ws
    .store()
    .runs.listSteps(runId)
    .filter((s) => s.status === 'done' || s.status === 'reused')
    .map((s) => s.stepId);
}

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

describe('resuming a run of a six-shot project', () => {
  it.each(rows)(
    'given a journal holding $journal, continuing with $continueWith executes exactly the missing steps',
    async (row) => {
      ws = await createTempWorkspace();
      const built = await row.build(ws);
      const runId = built.runId!;
      const { runs } = ws.store();

      expect(runs.getRun(runId)?.status).toBe(row.endedAs);
      if (row.endedAs === 'cancelled') expect(isCancellation(built.error)).toBe(true);
      if (row.endedAs === 'failed')
        expect(built.result?.failures.map((f) => f.shotId)).toEqual(shots(4, SHOTS));
      const everything = allStepIds(project);
      expect(sorted(finishedInJournal(ws, runId))).toEqual(
        sorted(everything.filter((s) => !row.expected.includes(s))),
      );

      const bookmark = lastExecutionId(ws);
      const backend = new FaultInjectingBackend();
      const resumed = await runOn(ws, project, {
        backend,
        ...(row.continueWith === 'resume' ? { runId } : {}),
      });

      expect(resumed.error).toBeUndefined();
      expect(resumed.result?.status).toBe('succeeded');
      if (row.continueWith === 'resume') expect(resumed.runId).toBe(runId);
      else expect(resumed.runId).not.toBe(runId);
      expect(sorted(resumed.result!.executedSteps)).toEqual(sorted(row.expected));
      expect(sorted(executedSince(ws, resumed.runId!, bookmark))).toEqual(sorted(row.expected));
      expect(sorted(resumed.result!.reusedSteps)).toEqual(
        sorted(everything.filter((s) => !row.expected.includes(s))),
      );
      // The backend saw only the work that was missing: no panel or shot is drawn twice.
      const drawnPanels = backend.calls
        .filter((c) => c.purpose === 'sheet-panel')
        .map((c) => `sheet:${c.label}`);
      expect(sorted(drawnPanels)).toEqual(sorted(row.expected.filter((s) => s.startsWith('sheet:panel-'))));
      const drawnShots = backend.calls.filter((c) => c.purpose === 'shot').map((c) => `generate:${c.label}`);
      expect(sorted(drawnShots)).toEqual(sorted(row.expected.filter((s) => s.startsWith('generate:'))));
      // Over both runs every step finished exactly once.
      const done = runs
        .listExecutions({ projectId: project.id, limit: 10_000 })
        .filter((e) => e.outcome === 'done');
      expect(sorted(done.map((e) => e.stepId))).toEqual(sorted(everything));
      expect(runs.getRun(resumed.runId!)?.status).toBe('succeeded');
    },
  );
});

const KILL_TARGET = fileURLToPath(new URL('./helpers/kill-target.ts', import.meta.url));

/** Runs the pipeline in a child process and SIGKILLs it once `stepId` is journaled; resolves to the run id. */
async function runAndKill(ws: TempWorkspace, p: Project, stepId: string): Promise<string> {
  const projectPath = join(ws.root, 'project.json');
  await writeFile(projectPath, JSON.stringify(p));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', KILL_TARGET, ws.workspace, ws.outDir, projectPath, stepId],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on('exit', (_code, signal) => resolve(signal)),
  );
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('READY\n')) resolve();
    });
    child.on('exit', () => reject(new Error(`child ended before ${stepId}: ${out}\n${err}`)));
  });
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  const runId = /RUN (\S+)/.exec(out)?.[1];
  if (!runId) throw new Error(`child did not report its run id: ${out}`);
  return runId;
}

describe('a run whose process is killed', () => {
  it('is found interrupted by the next process, and resuming it redoes no finished step', async () => {
    ws = await createTempWorkspace();
    const runId = await runAndKill(ws, project, `qa:${shotId(2)}`);
    const { runs } = ws.store();
    // The dead process left the run 'running'; the next opener sees its pid is gone.
    expect(runs.getRun(runId)?.status).toBe('running');
    expect(runs.markStaleRunsInterrupted()).toEqual([runId]);
    expect(runs.getRun(runId)?.status).toBe('interrupted');
    expect(runs.findLatestResumable(project.id)?.id).toBe(runId);
    expect(sorted(finishedInJournal(ws, runId))).toEqual(
      sorted([...sheetStepIds(), ...shotStepIds(shots(1, 2))]),
    );

    const bookmark = lastExecutionId(ws);
    const resumed = await runOn(ws, project, { runId });
    const expected = [...shotStepIds(shots(3, SHOTS)), 'export', 'animatic'];
    expect(resumed.result?.status).toBe('succeeded');
    expect(sorted(resumed.result!.executedSteps)).toEqual(sorted(expected));
    expect(sorted(executedSince(ws, runId, bookmark))).toEqual(sorted(expected));
  });
});
