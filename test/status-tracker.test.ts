import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GenerationStatusTracker,
  PIPELINE_STAGES,
  calculateStageProgressPercentage,
  defaultStatusTracker,
  formatDuration,
  formatTimestamp,
  getProgressColor,
  getStageDisplayName,
  getStageIcon,
  hasGenerationError,
  isGenerationComplete,
  isGenerationInProgress,
  type GenerationStage,
} from '../src/core/index.js';

function manualClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('GenerationStatusTracker (the note’s examples)', () => {
  it('should calculate progress correctly', () => {
    const tracker = new GenerationStatusTracker();
    tracker.initialize(10);
    tracker.startStage('comfyui');
    const progress = tracker.calculateProgress('comfyui', 5);
    expect(progress.overallProgress).toBeGreaterThan(20);
    expect(progress.overallProgress).toBeLessThan(60);
  });

  it('should estimate time remaining', () => {
    const tracker = new GenerationStatusTracker();
    tracker.initialize(10);
    const progress = tracker.calculateProgress('comfyui', 5);
    expect(progress.estimatedTimeRemaining).toBeGreaterThan(0);
  });
});

describe('GenerationStatusTracker', () => {
  it('weights the stages 20/40/15/15/10 and reports half of the comfyui band as 40%', () => {
    const tracker = new GenerationStatusTracker({ now: manualClock().now });
    tracker.initialize(10);
    expect(tracker.calculateProgress('grid', 1).overallProgress).toBe(20);
    expect(tracker.calculateProgress('comfyui', 5).overallProgress).toBe(40);
    expect(tracker.calculateProgress('promotion', 10).overallProgress).toBe(75);
    expect(tracker.calculateProgress('qa', 10).overallProgress).toBe(90);
    expect(tracker.calculateProgress('export', 1).overallProgress).toBe(100);
  });

  it('counts grid panels and export steps as real fractions instead of a flat 50%', () => {
    const tracker = new GenerationStatusTracker({ now: manualClock().now });
    tracker.initialize(4);
    tracker.startStage('grid', 9);
    const three = tracker.calculateProgress('grid', 3);
    expect(three.currentStageProgress).toBeCloseTo(100 / 3, 10);
    expect(three.overallProgress).toBeCloseTo(20 / 3, 10);
    tracker.completeStage('grid');
    tracker.startStage('export', 4);
    expect(tracker.calculateProgress('export', 1, 0.5).overallProgress).toBeCloseTo(90 + 10 * (1.5 / 4), 10);
  });

  it('uses fractionOfShot within the current shot', () => {
    const tracker = new GenerationStatusTracker({ now: manualClock().now });
    tracker.initialize(4);
    tracker.startStage('comfyui');
    const p = tracker.calculateProgress('comfyui', 1, 0.5);
    expect(p.currentStageProgress).toBe(37.5);
    expect(p.overallProgress).toBe(20 + 40 * 0.375);
  });

  it('never goes backwards when a later report is lower', () => {
    const tracker = new GenerationStatusTracker({ now: manualClock().now });
    tracker.initialize(10);
    expect(tracker.calculateProgress('comfyui', 8).overallProgress).toBe(52);
    expect(tracker.calculateProgress('comfyui', 2).overallProgress).toBe(52);
    expect(tracker.calculateProgress('grid', 0).overallProgress).toBe(52);
  });

  it('ends at exactly 100 when complete, with nothing remaining', () => {
    const clock = manualClock();
    const tracker = new GenerationStatusTracker({ now: clock.now });
    tracker.initialize(3);
    tracker.calculateProgress('qa', 1, 0.3);
    clock.advance(5000);
    const done = tracker.calculateProgress('complete', 3);
    expect(done.overallProgress).toBe(100);
    expect(done.estimatedTimeRemaining).toBe(0);
    expect(done.estimatedCompletion).toBe(clock.now());
  });

  it('extrapolates the ETA linearly from elapsed time and progress', () => {
    const clock = manualClock();
    const tracker = new GenerationStatusTracker({ now: clock.now });
    tracker.initialize(10);
    clock.advance(60_000);
    const p = tracker.calculateProgress('grid', 1); // 20% in 60 s → 240 s to go
    expect(p.elapsedTime).toBe(60_000);
    expect(p.estimatedTimeRemaining).toBe(240_000);
    expect(p.estimatedCompletion).toBe(clock.now() + 240_000);
    expect(tracker.getFormattedElapsedTime()).toBe('1m 0s');
    expect(tracker.getFormattedTimeRemaining()).toBe('4m 0s');
  });

  it('estimates 5 min + 30 s per shot before there is any progress', () => {
    const clock = manualClock();
    const tracker = new GenerationStatusTracker({ now: clock.now });
    tracker.initialize(10);
    const p = tracker.calculateProgress('grid', 0);
    expect(p.estimatedTimeRemaining).toBe(5 * 60_000 + 10 * 30_000);
    expect(tracker.getFormattedTimeRemaining()).toBe('10m 0s');
  });

  it('records stage timings with durations from the injected clock', () => {
    const clock = manualClock();
    const tracker = new GenerationStatusTracker({ now: clock.now });
    tracker.initialize(2);
    tracker.startStage('grid', 9);
    clock.advance(1500);
    tracker.completeStage('grid');
    tracker.startStage('comfyui');
    clock.advance(4000);
    tracker.completeStage('comfyui');
    const timings = tracker.getStageTimings();
    expect(timings.map((t) => [t.stage, t.duration, t.units])).toEqual([
      ['grid', 1500, 9],
      ['comfyui', 4000, 2],
    ]);
    expect(tracker.getProgress()).toBe(60);
    expect(tracker.getElapsedTime()).toBe(5500);
  });

  it('shapes a GenerationStatus for onProgress', () => {
    const clock = manualClock();
    const tracker = new GenerationStatusTracker({ now: clock.now });
    tracker.initialize(4);
    clock.advance(10_000);
    const status = tracker.toStatus('comfyui', 2, { message: 'shot 3 rendering' });
    expect(status).toEqual({
      stage: 'comfyui',
      progress: 40,
      currentShot: 2,
      totalShots: 4,
      message: 'shot 3 rendering',
      elapsedMs: 10_000,
      etaMs: 15_000,
      estimatedCompletion: clock.now() + 15_000,
      stageProgress: 50,
    });
    expect(isGenerationInProgress(status)).toBe(true);
  });

  it('reset forgets progress and timings', () => {
    const tracker = new GenerationStatusTracker();
    tracker.initialize(3);
    tracker.startStage('grid');
    tracker.calculateProgress('comfyui', 3);
    tracker.reset();
    expect(tracker.getProgress()).toBe(0);
    expect(tracker.getStageTimings()).toEqual([]);
    expect(tracker.getElapsedTime()).toBe(0);
  });

  it('rejects a negative shot count or unit count with a message naming it', () => {
    const tracker = new GenerationStatusTracker();
    expect(() => tracker.initialize(-1)).toThrow('totalShots must be a non-negative integer (got -1)');
    tracker.initialize(2);
    expect(() => tracker.startStage('grid', 1.5)).toThrow(
      'units for stage grid must be a non-negative integer (got 1.5)',
    );
  });

  it('a shared defaultStatusTracker exists for the note’s usage example', () => {
    expect(defaultStatusTracker).toBeInstanceOf(GenerationStatusTracker);
  });
});

describe('progress properties', () => {
  const stageArb = fc.constantFrom<GenerationStage>('idle', ...PIPELINE_STAGES, 'error');
  const updateArb = fc.record({
    stage: stageArb,
    shot: fc.oneof(fc.integer({ min: -5, max: 50 }), fc.double({ noNaN: false })),
    fraction: fc.oneof(fc.double({ min: -1, max: 2, noNaN: true }), fc.constant(Number.NaN)),
    advance: fc.integer({ min: 0, max: 100_000 }),
    units: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    complete: fc.boolean(),
  });

  it('progress is monotonic and bounded in [0, 100] for any sequence of updates, and ends at 100', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 30 }),
        fc.array(updateArb, { maxLength: 40 }),
        (shots, updates) => {
          const clock = manualClock();
          const tracker = new GenerationStatusTracker({ now: clock.now });
          tracker.initialize(shots);
          let last = 0;
          for (const u of updates) {
            clock.advance(u.advance);
            const pipelineStage = PIPELINE_STAGES.find((s) => s === u.stage);
            if (pipelineStage && u.units !== undefined) tracker.startStage(pipelineStage, u.units);
            if (pipelineStage && u.complete) tracker.completeStage(pipelineStage);
            const p = tracker.calculateProgress(u.stage, u.shot, u.fraction);
            expect(p.overallProgress).toBeGreaterThanOrEqual(last);
            expect(p.overallProgress).toBeGreaterThanOrEqual(0);
            expect(p.overallProgress).toBeLessThanOrEqual(100);
            expect(p.currentStageProgress).toBeGreaterThanOrEqual(0);
            expect(p.currentStageProgress).toBeLessThanOrEqual(100);
            expect(p.estimatedTimeRemaining).toBeGreaterThanOrEqual(0);
            last = p.overallProgress;
          }
          expect(tracker.calculateProgress('complete', shots).overallProgress).toBe(100);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('progress of overlapping stages (pipelined shots)', () => {
  it('is the weighted sum of the stages done fractions, 20/40/15/15/10', () => {
    const tracker = new GenerationStatusTracker({ now: manualClock().now });
    tracker.initialize(10);
    const p = tracker.calculateConcurrentProgress({ grid: 1, comfyui: 0.5, promotion: 0.2, qa: 0.1 });
    expect(p.overallProgress).toBeCloseTo(20 + 20 + 3 + 1.5, 10);
    expect(
      tracker.calculateConcurrentProgress({ grid: 1, comfyui: 1, promotion: 1, qa: 1, export: 1 })
        .overallProgress,
    ).toBe(100);
  });

  it('never goes backwards or leaves [0, 100], whatever fractions arrive', () => {
    const fraction = fc.oneof(fc.double({ min: -1, max: 2 }), fc.constant(Number.NaN));
    const update = fc.record(
      Object.fromEntries(PIPELINE_STAGES.map((s) => [s, fraction])) as Record<
        (typeof PIPELINE_STAGES)[number],
        fc.Arbitrary<number>
      >,
    );
    fc.assert(
      fc.property(fc.array(update, { maxLength: 30 }), (updates) => {
        const clock = manualClock();
        const tracker = new GenerationStatusTracker({ now: clock.now });
        tracker.initialize(5);
        let last = 0;
        for (const u of updates) {
          clock.advance(500);
          const p = tracker.calculateConcurrentProgress(u);
          expect(p.overallProgress).toBeGreaterThanOrEqual(last);
          expect(p.overallProgress).toBeLessThanOrEqual(100);
          expect(p.estimatedTimeRemaining).toBeGreaterThanOrEqual(0);
          last = p.overallProgress;
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('status helpers', () => {
  it.each([
    [0, '0m 0s'],
    [59_999, '0m 59s'],
    [90_000, '1m 30s'],
    [3_599_000, '59m 59s'],
    [3_600_000, '1h 0m'],
    [3_660_000 + 59_000, '1h 1m'],
    [-5, '0m 0s'],
    [Number.NaN, '0m 0s'],
  ])('formatDuration(%d) is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('formatTimestamp gives a 24-hour HH:MM:SS', () => {
    expect(formatTimestamp(Date.UTC(2024, 0, 2, 15, 4, 5), { utc: true })).toBe('15:04:05');
    expect(formatTimestamp(Number.NaN)).toBe('--:--:--');
    expect(formatTimestamp(Date.now())).toMatch(/^\d\d:\d\d:\d\d$/);
  });

  it('calculateStageProgressPercentage clamps and treats an empty stage as done', () => {
    expect(calculateStageProgressPercentage(3, 9)).toBeCloseTo(33.333, 3);
    expect(calculateStageProgressPercentage(12, 9)).toBe(100);
    expect(calculateStageProgressPercentage(-2, 9, 0.9)).toBe(10);
    expect(calculateStageProgressPercentage(0, 0)).toBe(100);
  });

  it('every stage has a display name, an emoji icon and a hex colour', () => {
    const stages: GenerationStage[] = ['idle', ...PIPELINE_STAGES, 'complete', 'error'];
    expect(getStageDisplayName('grid')).toBe('Master Coherence Sheet');
    expect(getStageIcon('complete')).toBe('✅');
    expect(getProgressColor('error')).toBe('#ef4444');
    for (const s of stages) {
      expect(getStageDisplayName(s)).not.toBe('');
      expect(getStageIcon(s)).toMatch(/\p{Extended_Pictographic}/u);
      expect(getProgressColor(s)).toMatch(/^#[0-9a-f]{6}$/);
    }
    expect(new Set(stages.map(getStageDisplayName)).size).toBe(stages.length);
  });

  it.each([
    ['idle', false, false, false],
    ['grid', true, false, false],
    ['export', true, false, false],
    ['complete', false, true, false],
    ['error', false, false, true],
  ] as const)(
    'a status at stage %s: in progress %s, complete %s, error %s',
    (stage, running, complete, failed) => {
      const status = { stage, progress: 50 };
      expect(isGenerationInProgress(status)).toBe(running);
      expect(isGenerationComplete(status)).toBe(complete);
      expect(hasGenerationError(status)).toBe(failed);
    },
  );

  it('no status at all is neither running, complete nor failed', () => {
    expect(isGenerationInProgress(null)).toBe(false);
    expect(isGenerationComplete(undefined)).toBe(false);
    expect(hasGenerationError(null)).toBe(false);
  });
});
