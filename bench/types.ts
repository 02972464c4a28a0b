/** One measured figure; the bench runner prints them as a table, ratios included. */
export interface BenchRow {
  group: string;
  name: string;
  value: number;
  unit: string;
  /** e.g. "target ≥ 4×: met" */
  note?: string;
}
