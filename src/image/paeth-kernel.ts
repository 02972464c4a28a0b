import { assembleModule, Code, I32, V128 } from './wasm-assembler.js';

/**
 * `paeth(dst, src, stride, blocks)`: PNG's Paeth filter (type 4) for 16 bytes per block of one row of RGB samples:
 * `dst[i] = src[i] − predictor(a = src[i − 3], b = src[i − stride], c = src[i − stride − 3])` mod 256, where the
 * predictor is whichever of a, b, c is closest to a + b − c (ties to a, then b), computed in i16 lanes. The
 * caller keeps a zero row above the first one and fixes each row's first pixel, whose left neighbours are zero.
 */
function paethFunction(): Code {
  const [dst, src, stride, blocks] = [0, 1, 2, 3];
  const [x, a, b, cc, pred, pa, pb, pc, m1, m2] = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
  const [al, bl, cl] = [14, 15, 16];
  const c = new Code();
  // The predictor for one half (8 samples) from a, b, c widened to i16 in al, bl, cl; leaves it on the stack.
  const half = (): void => {
    c.get(bl).get(cl).i16x8Sub().i16x8Abs().set(pa);
    c.get(al).get(cl).i16x8Sub().i16x8Abs().set(pb);
    c.get(al).get(bl).i16x8Add().get(cl).i16x8Sub().get(cl).i16x8Sub().i16x8Abs().set(pc);
    c.get(pa).get(pb).i16x8LeS().get(pa).get(pc).i16x8LeS().v128And().set(m1);
    c.get(pb).get(pc).i16x8LeS().set(m2);
    c.get(al).get(bl).get(cl).get(m2).v128Bitselect().get(m1).v128Bitselect();
  };
  c.block().get(blocks).i32Eqz().brIf(0);
  c.loop();
  c.get(src).v128Load(0).set(x);
  c.get(src).i32(3).i32Sub().v128Load(0).set(a);
  c.get(src).get(stride).i32Sub().v128Load(0).set(b);
  c.get(src).get(stride).i32Sub().i32(3).i32Sub().v128Load(0).set(cc);
  c.get(a).i16x8ExtendLowI8x16U().set(al);
  c.get(b).i16x8ExtendLowI8x16U().set(bl);
  c.get(cc).i16x8ExtendLowI8x16U().set(cl);
  half();
  c.get(a).i16x8ExtendHighI8x16U().set(al);
  c.get(b).i16x8ExtendHighI8x16U().set(bl);
  c.get(cc).i16x8ExtendHighI8x16U().set(cl);
  half();
  c.i8x16NarrowI16x8U().set(pred);
  c.get(dst).get(x).get(pred).i8x16Sub().v128Store(0);
  c.get(dst).i32(16).i32Add().set(dst);
  c.get(src).i32(16).i32Add().set(src);
  c.get(blocks).i32(1).i32Sub().tee(blocks).brIf(0);
  c.end().end();
  return c;
}

export interface PaethKernel {
  memory: WebAssembly.Memory;
  paeth: (dst: number, src: number, stride: number, blocks: number) => void;
}

let cached: PaethKernel | null | undefined;

/** The compiled filter, once per thread; `null` without WebAssembly SIMD (the caller filters in JavaScript). */
export function paethKernel(): PaethKernel | null {
  if (cached !== undefined) return cached;
  const bytes = assembleModule([
    {
      name: 'paeth',
      params: [I32, I32, I32, I32],
      locals: new Array<number>(13).fill(V128),
      code: paethFunction(),
    },
  ]);
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) {
    cached = null;
    return cached;
  }
  const memory = new WebAssembly.Memory({ initial: 1 });
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  cached = { memory, paeth: instance.exports['paeth'] as PaethKernel['paeth'] };
  return cached;
}
