export { startStudioServer } from './serve.js';
export type { StudioServer, StudioServerOptions } from './serve.js';
export { createStudioApp } from './app.js';
export type { StudioAppOptions } from './app.js';
export { RunManager } from './run-manager.js';
export type { PreviewEvent, RunListener, RunManagerOptions } from './run-manager.js';
export type { RunSettings } from './backend-settings.js';
export type { StudioResults, FrameResult } from './results.js';
