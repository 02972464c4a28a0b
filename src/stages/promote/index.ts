export { centreCrop, encodePromoted, promoteFrame, promotePng } from './promote.js';
export type { PromoteOptions, PromotedFrame, PromotedPng, PromotionRecord } from './promote.js';
