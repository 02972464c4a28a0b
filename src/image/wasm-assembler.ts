/**
 * Just enough of the WebAssembly binary format to emit the image kernels (QA sweeps, Lanczos rows) from TypeScript: one imported memory,
 * functions with i32/f64/v128 locals, structured control flow and the SIMD-128 instructions the kernels use.
 * Hand-rolled because the project carries no wasm toolchain; opcodes are from the final SIMD-128 spec
 * (0xFD prefix + LEB128 sub-opcode), and every emitted module is checked by `WebAssembly.validate` before use.
 */

export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(value: number): number[] {
  const out: number[] = [];
  let v = value | 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

/** A function body under construction; every method appends one instruction and returns `this`. */
export class Code {
  readonly bytes: number[] = [];

  private op(...b: number[]): this {
    for (const x of b) this.bytes.push(x);
    return this;
  }

  private simd(sub: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(sub), ...imm);
  }

  // control flow (block type 0x40: no result)
  block(): this {
    return this.op(0x02, 0x40);
  }
  loop(): this {
    return this.op(0x03, 0x40);
  }
  end(): this {
    return this.op(0x0b);
  }
  br(depth: number): this {
    return this.op(0x0c, ...uleb(depth));
  }
  brIf(depth: number): this {
    return this.op(0x0d, ...uleb(depth));
  }

  // locals and scalars
  get(local: number): this {
    return this.op(0x20, ...uleb(local));
  }
  set(local: number): this {
    return this.op(0x21, ...uleb(local));
  }
  tee(local: number): this {
    return this.op(0x22, ...uleb(local));
  }
  i32(value: number): this {
    return this.op(0x41, ...sleb(value));
  }
  i32Eqz(): this {
    return this.op(0x45);
  }
  i32Add(): this {
    return this.op(0x6a);
  }
  i32Sub(): this {
    return this.op(0x6b);
  }

  // memory (alignment hint 0: the kernels load at any byte offset)
  v128Load(offset = 0): this {
    return this.simd(0x00, 0, ...uleb(offset));
  }
  load8x8U(offset = 0): this {
    return this.simd(0x02, 0, ...uleb(offset));
  }
  v128Store(offset = 0): this {
    return this.simd(0x0b, 0, ...uleb(offset));
  }

  // SIMD
  v128Const(bytes: readonly number[]): this {
    if (bytes.length !== 16) throw new RangeError(`v128.const needs 16 bytes, got ${bytes.length}`);
    return this.simd(0x0c, ...bytes);
  }
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16) throw new RangeError(`i8x16.shuffle needs 16 lanes, got ${lanes.length}`);
    return this.simd(0x0d, ...lanes);
  }
  i8x16Swizzle(): this {
    return this.simd(0x0e);
  }
  i8x16Splat(): this {
    return this.simd(0x0f);
  }
  i32x4Splat(): this {
    return this.simd(0x11);
  }
  i8x16LeU(): this {
    return this.simd(0x2a);
  }
  i8x16GeU(): this {
    return this.simd(0x2c);
  }
  v128And(): this {
    return this.simd(0x4e);
  }
  v128Or(): this {
    return this.simd(0x50);
  }
  v128Bitselect(): this {
    return this.simd(0x52);
  }
  i8x16Sub(): this {
    return this.simd(0x71);
  }
  i16x8LeS(): this {
    return this.simd(0x33);
  }
  i8x16NarrowI16x8U(): this {
    return this.simd(0x66);
  }
  i16x8ExtaddPairwiseI8x16S(): this {
    return this.simd(0x7c);
  }
  i32x4ExtaddPairwiseI16x8S(): this {
    return this.simd(0x7e);
  }
  i32x4ExtaddPairwiseI16x8U(): this {
    return this.simd(0x7f);
  }
  i16x8Abs(): this {
    return this.simd(0x80);
  }
  i16x8NarrowI32x4S(): this {
    return this.simd(0x85);
  }
  i16x8NarrowI32x4U(): this {
    return this.simd(0x86);
  }
  i16x8ExtendLowI8x16U(): this {
    return this.simd(0x89);
  }
  i16x8ExtendHighI8x16U(): this {
    return this.simd(0x8a);
  }
  i32x4ExtendLowI16x8U(): this {
    return this.simd(0xa9);
  }
  i32x4ExtendHighI16x8U(): this {
    return this.simd(0xaa);
  }
  i32x4ShrS(): this {
    return this.simd(0xac);
  }
  i16x8Shl(): this {
    return this.simd(0x8b);
  }
  i16x8Add(): this {
    return this.simd(0x8e);
  }
  i16x8Sub(): this {
    return this.simd(0x91);
  }
  i32x4ShrU(): this {
    return this.simd(0xad);
  }
  i32x4Add(): this {
    return this.simd(0xae);
  }
  i32x4Mul(): this {
    return this.simd(0xb5);
  }
  i32x4DotI16x8S(): this {
    return this.simd(0xba);
  }
  f64x2Add(): this {
    return this.simd(0xf0);
  }
  f64x2ConvertLowI32x4S(): this {
    return this.simd(0xfe);
  }
}

export interface WasmFunction {
  name: string;
  params: readonly number[];
  /** Extra locals after the params, by type. */
  locals: readonly number[];
  code: Code;
}

/** A module importing `env.memory` and exporting `functions` by name (no results; they write to memory). */
export function assembleModule(functions: readonly WasmFunction[]): Uint8Array<ArrayBuffer> {
  const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
  const types = vec(functions.map((f) => [0x60, ...vec(f.params.map((t) => [t])), 0x00]));
  const imports = vec([[...name('env'), ...name('memory'), 0x02, 0x00, 0x01]]);
  const funcs = vec(functions.map((_, i) => uleb(i)));
  const exports = vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]));
  const bodies = vec(
    functions.map((f) => {
      const locals = vec(f.locals.map((t) => [0x01, t]));
      const body = [...locals, ...f.code.bytes, 0x0b];
      return [...uleb(body.length), ...body];
    }),
  );
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, types),
    ...section(2, imports),
    ...section(3, funcs),
    ...section(7, exports),
    ...section(10, bodies),
  ]);
}
