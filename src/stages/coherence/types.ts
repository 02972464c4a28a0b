import type { Lab } from '../../image/color.js';
import type { Raster } from '../../image/raster.js';

export interface PaletteColour {
  hex: string;
  lab: Lab;
  /** Share of the measured pixels in this cluster, 0–1; the palette is sorted by weight, descending. */
  weight: number;
}

/** The measured look of the master coherence sheet; every shot is drawn toward it and checked against it. */
export interface VisualDna {
  /** Up to 7 dominant colours (k-means in CIELAB, k = 7; a cluster left empty is dropped). */
  palette: PaletteColour[];
  luminance: { mean: number; stdDev: number };
  /** RMS contrast: standard deviation of luma / 255. */
  contrastRms: number;
  /** Correlated colour temperature (Kelvin) of the mean colour, McCamy's approximation. */
  colorTemperatureK: number;
  /** Mean Lab of the whole sheet, the target of colour transfer. */
  meanLab: Lab;
  /** Per-channel Lab standard deviation, for Reinhard colour transfer. */
  stdLab: Lab;
}

export interface SheetPanel {
  index: number;
  prompt: string;
  seed: number;
}

export interface CoherenceSheet {
  raster: Raster;
  panels: SheetPanel[];
  panelSize: number;
  gutter: number;
  dna: VisualDna;
}
