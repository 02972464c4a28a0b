export { ANIMATIC_FILES, planAnimatic, renderAnimatic } from './animatic.js';
export { checkAnimaticAudio } from './audio.js';
export type { AnimaticInput, AnimaticOptions, AnimaticRecord, AnimaticResult } from './animatic.js';
export { findFfmpeg, isFfmpegMissing } from './ffmpeg.js';
export type { FfmpegInfo, FfmpegLookup, FfmpegMissing } from './ffmpeg.js';
export { ENCODE_SETTINGS } from './encode.js';
export { edlTimeline, otioTimeline, timecode, timelineEvents } from './timeline.js';
export type { TimelineEvent } from './timeline.js';
export type { AnimaticPlan, PlannedShot } from './plan.js';
