export { buildCoherenceSheet, composeSheet, sheetSide, GUTTER_COLOUR } from './sheet.js';
export type { BuildSheetOptions } from './sheet.js';
export {
  derivePanelPrompts,
  derivePanelSpecs,
  panelRequest,
  renderSheetPanel,
  PANEL_COUNT,
} from './panels.js';
export type { PanelSpec, RenderPanelOptions, RenderedPanel } from './panels.js';
export { measureVisualDna, measureSheetDna, correlatedColourTemperature, CCT_RANGE_K } from './visual-dna.js';
export type { VisualDnaOptions } from './visual-dna.js';
export { paletteForStyle, STYLE_PALETTE_SIZE } from './style-palette.js';
export type { CoherenceSheet, PaletteColour, SheetPanel, VisualDna } from './types.js';
