export { runPipeline } from './orchestrator.js';
export type {
  PipelineOptions,
  PipelineResult,
  ShotFailure,
  ShotOutcome,
  StepOptions,
} from './orchestrator.js';
export { SequenceGenerationService, sequenceGenerationService } from './sequence-generation-service.js';
export type {
  GenerateSequenceOptions,
  GenerationResults,
  SequenceGenerationServiceOptions,
} from './sequence-generation-service.js';
export type { ErrorInfo, PipelineEvent, PipelineEventListener, PipelineStage } from './events.js';
export { PIPELINE_VERSION } from './step-runner.js';
