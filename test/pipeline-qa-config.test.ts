import { afterEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/core/errors.js';
import { validateProject } from '../src/project/validate.js';
import type { Project } from '../src/project/schema.js';
import { FaultInjectingBackend } from './helpers/fault-injecting-backend.js';
import { runOn } from './helpers/pipeline-harness.js';
import { makeProject, makeProjectInput } from './helpers/project-factory.js';
import { createTempWorkspace, type TempWorkspace } from './helpers/temp-workspace.js';

let ws: TempWorkspace | undefined;
afterEach(async () => {
  await ws?.dispose();
  ws = undefined;
});

const withQa = (project: Project, qa: Project['qa']): Project => ({ ...project, qa });

describe("a project's own QA settings", () => {
  it('with a minimum above the default maximum are refused before any run, naming the JSON path', async () => {
    ws = await createTempWorkspace();
    const project = withQa(makeProject({ shots: 1 }), { thresholds: { meanLumaMin: 220 } });
    const run = await runOn(ws, project, { backend: new FaultInjectingBackend() });
    expect(run.error).toBeInstanceOf(ValidationError);
    expect((run.error as ValidationError).issues).toEqual([
      {
        path: 'qa.thresholds.meanLumaMin',
        message: 'meanLumaMin (220) is above meanLumaMax (200, the default): every shot would fail QA',
      },
    ]);
    expect(ws.store().runs.listRuns({})).toEqual([]);
  });

  it('override the default thresholds and regeneration budget, and show in the report', async () => {
    ws = await createTempWorkspace();
    const backend = new FaultInjectingBackend();
    // A contrast floor no frame can reach: every shot fails QA, fixes cannot save it, and budget 0 forbids
    // regenerating — so the project's settings, not the defaults, decided the outcome.
    const project = withQa(makeProject({ shots: 3 }), {
      thresholds: { contrastMin: 0.95 },
      regenerateBudget: 0,
    });
    const run = await runOn(ws, project, { backend });

    expect(run.result?.status).toBe('succeeded');
    const report = run.result!.qaReport;
    expect(report.thresholds['contrastMin']).toBe(0.95);
    expect(report.thresholds['meanLumaMin']).toBe(60); // untouched thresholds keep their defaults
    expect(report.passed).toBe(false);
    for (const shot of report.shotScores) expect(shot.issues).toContain('low_contrast');
    expect(backend.calls.filter((c) => c.purpose === 'regenerate')).toEqual([]);
  });

  it('when edited, rerun only the QA steps and the export', async () => {
    ws = await createTempWorkspace();
    const project = makeProject({ shots: 3 });
    expect((await runOn(ws, project)).result?.status).toBe('succeeded');

    const rerun = await runOn(ws, withQa(project, { thresholds: { noiseSigmaMax: 20 } }));
    expect([...rerun.result!.executedSteps].sort()).toEqual([
      'animatic',
      'export',
      'qa:shot-01',
      'qa:shot-02',
      'qa:shot-03',
    ]);
  });

  it.each([
    [{ thresholds: { meanLumaMin: 300 } }, '$.qa.thresholds.meanLumaMin', 'must be ≤ 255'],
    [{ thresholds: { contrastMin: -1 } }, '$.qa.thresholds.contrastMin', 'must be ≥ 0'],
    [{ thresholds: { sharpness: 10 } }, '$.qa.thresholds.sharpness', ''],
    [{ regenerateBudget: 1.5 }, '$.qa.regenerateBudget', 'must be an integer'],
  ])('reject %j with the JSON path of the mistake', (qa, path, message) => {
    const result = validateProject({ ...makeProjectInput(), qa });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const issue = result.issues.find((i) => i.path === path);
    expect(issue, JSON.stringify(result.issues)).toBeDefined();
    expect(issue!.message).toContain(message);
  });
});
