export { centreCrop, promoteFrame } from './promote.js';
export type { PromoteOptions, PromotedFrame, PromotionRecord } from './promote.js';
