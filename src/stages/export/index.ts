export { exportPackage } from './export-package.js';
export type { ExportFrame, ExportInput, ExportOptions, ExportResult, FrameSize } from './export-package.js';
export { stableManifestView, verifyExport } from './manifest.js';
export { verifyZip } from './verify-zip.js';
export { verifyPackage } from './verify-package.js';
export type { PackageVerification } from './verify-package.js';
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
  VerifyExportOptions,
} from './manifest.js';
