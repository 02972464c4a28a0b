import { assembleModule, Code, I32, V128 } from '../../image/wasm-assembler.js';

/**
 * Byte offsets of the kernels' results in wasm memory. `luma` writes Σy and Σy² as i32x4 and the clip counts as
 * i16x8; `laplacian` writes Σlap, Σlap² and Σ|noise| as f64x2 (exact integers: the per-row i32 lanes are folded
 * into doubles at the end of every row).
 */
export const STATS = {
  lumaSum: 0,
  lumaSumSq: 16,
  high: 32,
  low: 48,
  lapSum: 64,
  lapSumSq: 80,
  noiseAbsSum: 96,
  /** First byte after the stats block. */
  end: 112,
} as const;

/** Largest `blocks` per `luma` call: 16 px per block; Σy² lanes gain ≤ 2·2·255² per block and must stay < 2^31. */
export const MAX_LUMA_BLOCKS = 8192;
/** Widest row for `laplacian`: Σlap² lanes gain ≤ 2·1020² per 8 px and are folded into doubles per row. */
export const MAX_LAPLACIAN_WIDTH = 8192;

const Z = 0x80; // swizzle index ≥ 16 selects zero

function i16Pairs(a: number, b: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 4; i++) out.push(a & 255, a >> 8, b & 255, b >> 8);
  return out;
}

/**
 * `luma(src, dst, blocks, clipHigh, clipLow)`: OpenCV's 8-bit BT.601 luma, `(9798 R + 19235 G + 3735 B + 16384) >> 15`,
 * for `blocks` × 16 RGB pixels at `src` into bytes at `dst`, plus Σy, Σy², #(y ≥ clipHigh), #(y ≤ clipLow).
 * Four pixels per 12-byte load: a swizzle lays out (R,G) and (B,1) as i16 pairs and two `i32x4.dot_i16x8_s`
 * against (9798,19235) and (3735,16384) give the exact fixed-point sum, so no lane ever needs more than 32 bits.
 */
function lumaFunction(): Code {
  const [src, dst, blocks, clipHigh, clipLow] = [0, 1, 2, 3, 4];
  const [pix, y01, y23, out, sum, sq, high, low, hiV, loV, rgIdx, bIdx, oneOdd, cRg, cB] = [
    5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
  ];
  const c = new Code();
  c.v128Const([0, Z, 1, Z, 3, Z, 4, Z, 6, Z, 7, Z, 9, Z, 10, Z]).set(rgIdx);
  c.v128Const([2, Z, Z, Z, 5, Z, Z, Z, 8, Z, Z, Z, 11, Z, Z, Z]).set(bIdx);
  c.v128Const(i16Pairs(0, 1)).set(oneOdd);
  c.v128Const(i16Pairs(9798, 19235)).set(cRg);
  c.v128Const(i16Pairs(3735, 16384)).set(cB);
  c.get(clipHigh).i8x16Splat().set(hiV);
  c.get(clipLow).i8x16Splat().set(loV);
  const quad = (offset: number): void => {
    c.get(src).v128Load(offset).tee(pix).get(rgIdx).i8x16Swizzle().get(cRg).i32x4DotI16x8S();
    c.get(pix).get(bIdx).i8x16Swizzle().get(oneOdd).v128Or().get(cB).i32x4DotI16x8S();
    c.i32x4Add().i32(15).i32x4ShrU();
  };
  c.block().get(blocks).i32Eqz().brIf(0);
  c.loop();
  quad(0);
  quad(12);
  c.i16x8NarrowI32x4U().set(y01);
  quad(24);
  quad(36);
  c.i16x8NarrowI32x4U().set(y23);
  c.get(sum)
    .get(y01)
    .i32x4ExtaddPairwiseI16x8U()
    .i32x4Add()
    .get(y23)
    .i32x4ExtaddPairwiseI16x8U()
    .i32x4Add()
    .set(sum);
  c.get(sq)
    .get(y01)
    .get(y01)
    .i32x4DotI16x8S()
    .i32x4Add()
    .get(y23)
    .get(y23)
    .i32x4DotI16x8S()
    .i32x4Add()
    .set(sq);
  c.get(dst).get(y01).get(y23).i8x16NarrowI16x8U().tee(out).v128Store(0);
  c.get(high).get(out).get(hiV).i8x16GeU().i16x8ExtaddPairwiseI8x16S().i16x8Sub().set(high);
  c.get(low).get(out).get(loV).i8x16LeU().i16x8ExtaddPairwiseI8x16S().i16x8Sub().set(low);
  c.get(src).i32(48).i32Add().set(src);
  c.get(dst).i32(16).i32Add().set(dst);
  c.get(blocks).i32(1).i32Sub().tee(blocks).brIf(0);
  c.end().end();
  c.i32(0).get(sum).v128Store(STATS.lumaSum);
  c.i32(0).get(sq).v128Store(STATS.lumaSumSq);
  c.i32(0).get(high).v128Store(STATS.high);
  c.i32(0).get(low).v128Store(STATS.low);
  return c;
}

/**
 * `laplacian(row, w, rows, vecs)`: for `rows` consecutive luma rows starting at `row` (each with its neighbours at
 * ±w), columns 1 … 8·vecs of the 3x3 Laplacian (Σ, Σ²) and Immerkær's mask (Σ|·|), 8 pixels per step in i16 lanes.
 * Both operators share the horizontal second difference h = L(x-1) - 2L(x) + L(x+1):
 * Laplacian = h(mid) + up + down - 2·mid, Immerkær's N = h(up) - 2·h(mid) + h(down).
 */
function laplacianFunction(): Code {
  const [row, w, rows, vecs] = [0, 1, 2, 3];
  const [pu, pm, pd, n, m1, hm, lap, accL, accQ, accN, fL, fQ, fN] = [
    4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
  ];
  const c = new Code();
  const hdiff = (p: number): void => {
    c.get(p).load8x8U(0).get(p).load8x8U(2).i16x8Add().get(p).load8x8U(1).i32(1).i16x8Shl().i16x8Sub();
  };
  const fold = (acc: number, total: number): void => {
    c.get(total).get(acc).f64x2ConvertLowI32x4S().f64x2Add();
    c.get(acc).get(acc).i8x16Shuffle([8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15]);
    c.f64x2ConvertLowI32x4S().f64x2Add().set(total);
  };
  const zero = new Array<number>(16).fill(0);
  c.block().get(rows).i32Eqz().brIf(0);
  c.loop();
  c.get(row).get(w).i32Sub().set(pu);
  c.get(row).set(pm);
  c.get(row).get(w).i32Add().set(pd);
  c.v128Const(zero).tee(accL).tee(accQ).set(accN);
  c.get(vecs).set(n);
  c.block().get(n).i32Eqz().brIf(0);
  c.loop();
  // noise: h(up) + h(down) - 2 h(mid)
  hdiff(pu);
  hdiff(pd);
  c.i16x8Add();
  c.get(pm)
    .load8x8U(0)
    .get(pm)
    .load8x8U(2)
    .i16x8Add()
    .get(pm)
    .load8x8U(1)
    .tee(m1)
    .i32(1)
    .i16x8Shl()
    .i16x8Sub();
  c.tee(hm)
    .i32(1)
    .i16x8Shl()
    .i16x8Sub()
    .i16x8Abs()
    .i32x4ExtaddPairwiseI16x8S()
    .get(accN)
    .i32x4Add()
    .set(accN);
  // Laplacian: h(mid) + up + down - 2 mid
  c.get(hm)
    .get(pu)
    .load8x8U(1)
    .i16x8Add()
    .get(pd)
    .load8x8U(1)
    .i16x8Add()
    .get(m1)
    .i32(1)
    .i16x8Shl()
    .i16x8Sub();
  c.tee(lap).i32x4ExtaddPairwiseI16x8S().get(accL).i32x4Add().set(accL);
  c.get(lap).get(lap).i32x4DotI16x8S().get(accQ).i32x4Add().set(accQ);
  c.get(pu).i32(8).i32Add().set(pu);
  c.get(pm).i32(8).i32Add().set(pm);
  c.get(pd).i32(8).i32Add().set(pd);
  c.get(n).i32(1).i32Sub().tee(n).brIf(0);
  c.end().end();
  fold(accL, fL);
  fold(accQ, fQ);
  fold(accN, fN);
  c.get(row).get(w).i32Add().set(row);
  c.get(rows).i32(1).i32Sub().tee(rows).brIf(0);
  c.end().end();
  c.i32(0).get(fL).v128Store(STATS.lapSum);
  c.i32(0).get(fQ).v128Store(STATS.lapSumSq);
  c.i32(0).get(fN).v128Store(STATS.noiseAbsSum);
  return c;
}

export interface SweepKernels {
  memory: WebAssembly.Memory;
  luma: (src: number, dst: number, blocks: number, clipHigh: number, clipLow: number) => void;
  laplacian: (row: number, w: number, rows: number, vecs: number) => void;
}

let cached: SweepKernels | null | undefined;

/**
 * The compiled kernels, built once per thread; `null` where the engine lacks WebAssembly SIMD (callers fall back
 * to the scalar sweep). Synchronous compilation is fine in Node for a module this small (~1 KB).
 */
export function sweepKernels(): SweepKernels | null {
  if (cached !== undefined) return cached;
  const bytes = assembleModule([
    {
      name: 'luma',
      params: [I32, I32, I32, I32, I32],
      locals: new Array<number>(15).fill(V128),
      code: lumaFunction(),
    },
    {
      name: 'laplacian',
      params: [I32, I32, I32, I32],
      locals: [I32, I32, I32, I32, ...new Array<number>(9).fill(V128)],
      code: laplacianFunction(),
    },
  ]);
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) {
    cached = null;
    return cached;
  }
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const { luma, laplacian } = instance.exports as unknown as Omit<SweepKernels, 'memory'>;
  cached = { memory, luma, laplacian };
  return cached;
}
