import { assembleModule, Code, I32, V128 } from './wasm-assembler.js';

/** Taps per output sample the kernel takes: an enlargement's Lanczos3 support (weights padded with zeros). */
export const KERNEL_TAPS = 7;
const PRECISION_BITS = 22;

/**
 * `row(dst, blocks, p0…p6, w0…w6)`: one output row of a vertical Lanczos pass, 16 samples per block:
 * `dst[i] = clamp((2^21 + Σ_t src_t[i] · w_t) >> 22, 0, 255)` for the seven source rows `p_t` and fixed-point
 * weights `w_t` — PIL's arithmetic exactly (u8 × i32 products summed in i32), four i32x4 accumulators per block.
 * The saturating narrows (i32 → i16 → u8) are the clamp.
 */
function rowFunction(): Code {
  const dst = 0;
  const blocks = 1;
  const p = (t: number): number => 2 + t;
  const w = (t: number): number => 2 + KERNEL_TAPS + t;
  const first = 2 + 2 * KERNEL_TAPS;
  const wv = (t: number): number => first + t;
  const [acc0, acc1, acc2, acc3, v, lo, hi, half] = Array.from(
    { length: 8 },
    (_, i) => first + KERNEL_TAPS + i,
  ) as [number, number, number, number, number, number, number, number];
  const c = new Code();
  for (let t = 0; t < KERNEL_TAPS; t++) c.get(w(t)).i32x4Splat().set(wv(t));
  c.i32(1 << (PRECISION_BITS - 1))
    .i32x4Splat()
    .set(half);
  c.block().get(blocks).i32Eqz().brIf(0);
  c.loop();
  for (const acc of [acc0, acc1, acc2, acc3]) c.get(half).set(acc);
  for (let t = 0; t < KERNEL_TAPS; t++) {
    c.get(p(t)).v128Load(0).set(v);
    c.get(v).i16x8ExtendLowI8x16U().set(lo);
    c.get(v).i16x8ExtendHighI8x16U().set(hi);
    c.get(acc0).get(lo).i32x4ExtendLowI16x8U().get(wv(t)).i32x4Mul().i32x4Add().set(acc0);
    c.get(acc1).get(lo).i32x4ExtendHighI16x8U().get(wv(t)).i32x4Mul().i32x4Add().set(acc1);
    c.get(acc2).get(hi).i32x4ExtendLowI16x8U().get(wv(t)).i32x4Mul().i32x4Add().set(acc2);
    c.get(acc3).get(hi).i32x4ExtendHighI16x8U().get(wv(t)).i32x4Mul().i32x4Add().set(acc3);
  }
  c.get(dst);
  c.get(acc0).i32(PRECISION_BITS).i32x4ShrS().get(acc1).i32(PRECISION_BITS).i32x4ShrS().i16x8NarrowI32x4S();
  c.get(acc2).i32(PRECISION_BITS).i32x4ShrS().get(acc3).i32(PRECISION_BITS).i32x4ShrS().i16x8NarrowI32x4S();
  c.i8x16NarrowI16x8U().v128Store(0);
  c.get(dst).i32(16).i32Add().set(dst);
  for (let t = 0; t < KERNEL_TAPS; t++) c.get(p(t)).i32(16).i32Add().set(p(t));
  c.get(blocks).i32(1).i32Sub().tee(blocks).brIf(0);
  c.end().end();
  return c;
}

export interface LanczosKernel {
  memory: WebAssembly.Memory;
  /** `row(dst, blocks, p0, …, p6, w0, …, w6)`; pointers are byte offsets into `memory`. */
  row: (dst: number, blocks: number, ...pointersThenWeights: number[]) => void;
}

let cached: LanczosKernel | null | undefined;

/**
 * The compiled kernel, built once per thread (~0.5 KB, compiled synchronously); `null` where the engine lacks
 * WebAssembly SIMD, and the scalar passes in lanczos.ts run instead.
 */
export function lanczosKernel(): LanczosKernel | null {
  if (cached !== undefined) return cached;
  const bytes = assembleModule([
    {
      name: 'row',
      params: new Array<number>(2 + 2 * KERNEL_TAPS).fill(I32),
      locals: new Array<number>(KERNEL_TAPS + 8).fill(V128),
      code: rowFunction(),
    },
  ]);
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) {
    cached = null;
    return cached;
  }
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  cached = { memory, row: instance.exports['row'] as LanczosKernel['row'] };
  return cached;
}
