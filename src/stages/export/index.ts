export { exportPackage } from './export-package.js';
export type { ExportFrame, ExportInput, ExportOptions, ExportResult, FrameSize } from './export-package.js';
export { stableManifestView, verifyExport } from './manifest.js';
export { shotFilePath } from './safe-path.js';
export type { PngFile, PngLoader, PngSource } from './png-source.js';
export type {
  ExportManifest,
  ExportProblem,
  ExportProblemKind,
  ManifestFile,
  ManifestFrame,
  StableManifestView,
  ToolVersions,
} from './manifest.js';
