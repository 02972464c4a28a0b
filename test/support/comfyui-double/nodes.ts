/**
 * The node classes the double runs. Image nodes do the real work with sharp (their pixels are not bit-identical to
 * torch's, their sizes and behaviour are); text-to-image nodes are simulated: loaders hand out named handles, the
 * samplers take `steps × samplerStepMs` with progress and preview frames, and VAEDecode draws a deterministic picture
 * from (seed, prompt text, size) so that different seeds give different pixels.
 */
import { createHash } from 'node:crypto';
import sharp, { type KernelEnum, type Sharp } from 'sharp';
import type { FileStore } from './files.js';

/** One decoded RGB image (8 bits per channel); an IMAGE value is a batch of them. */
export interface Frame {
  data: Buffer;
  width: number;
  height: number;
}
interface Latent {
  width: number;
  height: number;
  batch: number;
  /** What the picture depends on: seed and prompt text once sampled, the encoded pixels' hash for VAEEncode. */
  seed: string;
}
interface Conditioning {
  texts: string[];
}

/** A failure inside a node, reported as `execution_error` with ComfyUI's exception type name. */
export class NodeRuntimeError extends Error {
  override name = 'NodeRuntimeError';
  constructor(
    message: string,
    readonly pyType: string,
  ) {
    super(message);
  }
}

export interface NodeContext {
  files: FileStore;
  /** One sampler step: waits `samplerStepMs`, reports progress (and a preview), throws when interrupted. */
  step(value: number, max: number, preview: () => Promise<Buffer>): Promise<void>;
}
export interface NodeResult {
  outputs: unknown[];
  /** What an output node shows (`executed.output`, history `outputs`). */
  ui?: Record<string, unknown>;
}
type Inputs = Record<string, unknown>;
type NodeFn = (inputs: Inputs, ctx: NodeContext) => Promise<NodeResult>;

const frames = (v: unknown): Frame[] => v as Frame[];
const num = (v: unknown): number => Number(v);
const out = (...outputs: unknown[]): NodeResult => ({ outputs });

async function decode(bytes: Buffer): Promise<Frame> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}
const pipeline = (f: Frame) => sharp(f.data, { raw: { width: f.width, height: f.height, channels: 3 } });
const apply = async (f: Frame, op: (s: Sharp) => Sharp): Promise<Frame> =>
  decode(await op(pipeline(f)).png({ compressionLevel: 0 }).toBuffer());
export const encodePng = (f: Frame, compressionLevel = 4): Promise<Buffer> =>
  pipeline(f).png({ compressionLevel }).toBuffer();

const KERNELS: Record<string, keyof KernelEnum> = {
  'nearest-exact': 'nearest',
  bilinear: 'linear',
  area: 'mitchell',
  bicubic: 'cubic',
  lanczos: 'lanczos3',
};
function resize(f: Frame, width: number, height: number, method: string, crop: string): Promise<Frame> {
  const kernel = KERNELS[method] ?? 'linear';
  return apply(f, (s) => s.resize(width, height, { kernel, fit: crop === 'center' ? 'cover' : 'fill' }));
}

/** A deterministic picture for a simulated decode: smooth colour fields and waves seeded by a sha256. */
export function synthesize(seed: string, width: number, height: number): Frame {
  const h = createHash('sha256').update(seed).digest();
  const data = Buffer.alloc(width * height * 3);
  const fx = (h[12]! % 7) + 1,
    fy = (h[13]! % 7) + 1,
    phase = h[14]! / 40;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const u = x / width,
        v = y / height;
      const wave = Math.sin((fx * u + fy * v) * Math.PI * 2 + phase) * 40;
      const i = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const a = h[c]!,
          b = h[3 + c]!,
          d = h[6 + c]!;
        data[i + c] = Math.max(
          0,
          Math.min(255, Math.round(a * (1 - u) * (1 - v) + b * u + d * v * (1 - u) + wave)),
        );
      }
    }
  }
  return { data, width, height };
}

const BLEND: Record<string, (a: number, b: number) => number> = {
  normal: (_a, b) => b,
  multiply: (a, b) => a * b,
  screen: (a, b) => 1 - (1 - a) * (1 - b),
  overlay: (a, b) => (a <= 0.5 ? 2 * a * b : 1 - 2 * (1 - a) * (1 - b)),
  soft_light: (a, b) => {
    const g = a <= 0.25 ? ((16 * a - 12) * a + 4) * a : Math.sqrt(a);
    return b <= 0.5 ? a - (1 - 2 * b) * a * (1 - a) : a + (2 * b - 1) * (g - a);
  },
  difference: (a, b) => a - b,
};

async function saveImages(ctx: NodeContext, images: Frame[], prefix: string, type: 'output' | 'temp') {
  const slash = prefix.lastIndexOf('/');
  const subfolder = slash >= 0 ? prefix.slice(0, slash) : '';
  const stem = slash >= 0 ? prefix.slice(slash + 1) : prefix;
  let counter = ctx.files.nextCounter(type, subfolder, stem);
  const results: { filename: string; subfolder: string; type: string }[] = [];
  for (const [batch, image] of images.entries()) {
    const filename = `${stem.replaceAll('%batch_num%', String(batch))}_${String(counter).padStart(5, '0')}_.png`;
    ctx.files.put(type, subfolder, filename, await encodePng(image, type === 'temp' ? 1 : 4));
    results.push({ filename, subfolder, type });
    counter++;
  }
  return { outputs: [], ui: { images: results } };
}

/** A sampler: `steps` steps with progress and a small preview per step, then a latent keyed by seed and text. */
async function sample(
  ctx: NodeContext,
  latent: Latent,
  steps: number,
  seed: unknown,
  cond: unknown,
): Promise<Latent> {
  const texts = (cond as Conditioning | undefined)?.texts ?? [];
  const key = `${String(seed)}|${texts.join('|')}|${latent.seed}`;
  const pw = Math.max(1, Math.min(64, Math.round(latent.width / 8))),
    ph = Math.max(1, Math.min(64, Math.round(latent.height / 8)));
  for (let i = 1; i <= steps; i++) {
    await ctx.step(i, steps, () => encodePng(synthesize(`${key}|${i}`, pw, ph), 1));
  }
  return { ...latent, seed: key };
}

const handle = (kind: string) => async (inputs: Inputs) =>
  out({ kind, name: Object.values(inputs).filter((v) => typeof v === 'string') });

export const NODES: Record<string, NodeFn> = {
  EmptyImage: async (i) => {
    const [w, h, color] = [num(i['width']), num(i['height']), num(i['color'])];
    const data = Buffer.alloc(w * h * 3, Buffer.from([(color >> 16) & 255, (color >> 8) & 255, color & 255]));
    return out(Array.from({ length: num(i['batch_size']) }, () => ({ data, width: w, height: h })));
  },
  LoadImage: async (i, ctx) => {
    const name = String(i['image']).replace(/ \[(input|output|temp)\]$/, '');
    const slash = name.lastIndexOf('/');
    const bytes = ctx.files.get('input', slash >= 0 ? name.slice(0, slash) : '', name.slice(slash + 1));
    try {
      const frame = await decode(bytes ?? Buffer.alloc(0));
      return out([frame], { kind: 'MASK', width: frame.width, height: frame.height });
    } catch {
      throw new NodeRuntimeError(`cannot identify image file '${name}'`, 'PIL.UnidentifiedImageError');
    }
  },
  ImageScale: async (i) => {
    const src = frames(i['image']);
    return out(
      await Promise.all(
        src.map((f) => {
          let [w, h] = [num(i['width']), num(i['height'])];
          if (w === 0 && h === 0) return f;
          if (w === 0) w = Math.max(1, Math.round((f.width * h) / f.height));
          if (h === 0) h = Math.max(1, Math.round((f.height * w) / f.width));
          return resize(f, w, h, String(i['upscale_method']), String(i['crop']));
        }),
      ),
    );
  },
  ImageScaleBy: async (i) => {
    const s = num(i['scale_by']);
    const src = frames(i['image']);
    return out(
      await Promise.all(
        src.map((f) =>
          resize(
            f,
            Math.max(1, Math.round(f.width * s)),
            Math.max(1, Math.round(f.height * s)),
            String(i['upscale_method']),
            'disabled',
          ),
        ),
      ),
    );
  },
  ImageBlur: async (i) => {
    const sigma = Math.max(0.3, num(i['sigma']));
    return out(await Promise.all(frames(i['image']).map((f) => apply(f, (s) => s.blur(sigma)))));
  },
  ImageSharpen: async (i) => {
    const sigma = Math.max(0.3, num(i['sigma']));
    const m2 = num(i['alpha']) * 2;
    return out(await Promise.all(frames(i['image']).map((f) => apply(f, (s) => s.sharpen({ sigma, m2 })))));
  },
  ImageInvert: async (i) =>
    out(await Promise.all(frames(i['image']).map((f) => apply(f, (s) => s.negate())))),
  ImageCrop: async (i) => {
    const src = frames(i['image']);
    return out(
      await Promise.all(
        src.map((f) => {
          // ComfyUI clamps the origin inside the image and lets the slice end at its border.
          const left = Math.min(num(i['x']), f.width - 1),
            top = Math.min(num(i['y']), f.height - 1);
          const width = Math.min(num(i['width']), f.width - left),
            height = Math.min(num(i['height']), f.height - top);
          return apply(f, (s) => s.extract({ left, top, width, height }));
        }),
      ),
    );
  },
  ImageBlend: async (i) => {
    const mode = String(i['blend_mode']);
    const fn = BLEND[mode];
    if (!fn) throw new NodeRuntimeError(`Unsupported blend mode: ${mode}`, 'ValueError');
    const factor = num(i['blend_factor']);
    const a = frames(i['image1']),
      b = frames(i['image2']);
    return out(
      await Promise.all(
        a.map(async (f, n) => {
          let g = b[n % b.length]!;
          if (g.width !== f.width || g.height !== f.height)
            g = await resize(g, f.width, f.height, 'bicubic', 'center');
          const data = Buffer.alloc(f.data.length);
          for (let p = 0; p < data.length; p++) {
            const x = f.data[p]! / 255,
              y = g.data[p]! / 255;
            const v = x * (1 - factor) + fn(x, y) * factor;
            data[p] = Math.round(Math.max(0, Math.min(1, v)) * 255);
          }
          return { data, width: f.width, height: f.height };
        }),
      ),
    );
  },
  ImagePadForOutpaint: async (i) => {
    // ComfyUI fills the new border with 0.5 grey (saved as 127) around the original pixels.
    const [left, top, right, bottom] = [num(i['left']), num(i['top']), num(i['right']), num(i['bottom'])];
    const padded = await Promise.all(
      frames(i['image']).map((f) =>
        apply(f, (s) => s.extend({ left, top, right, bottom, background: { r: 127, g: 127, b: 127 } })),
      ),
    );
    const first = padded[0]!;
    return out(padded, { kind: 'MASK', width: first.width, height: first.height });
  },
  SaveImage: (i, ctx) => saveImages(ctx, frames(i['images']), String(i['filename_prefix']), 'output'),
  PreviewImage: (i, ctx) => {
    const letters = 'abcdefghijklmnopqrstupvxyz';
    const rand = Array.from({ length: 5 }, () => letters[Math.floor(Math.random() * letters.length)]).join(
      '',
    );
    return saveImages(ctx, frames(i['images']), `ComfyUI_temp_${rand}`, 'temp');
  },

  CheckpointLoaderSimple: async (i) => {
    const name = String(i['ckpt_name']);
    return out({ kind: 'MODEL', name }, { kind: 'CLIP', name }, { kind: 'VAE', name });
  },
  VAELoader: handle('VAE'),
  UNETLoader: handle('MODEL'),
  CLIPLoader: handle('CLIP'),
  DualCLIPLoader: handle('CLIP'),
  CLIPVisionLoader: handle('CLIP_VISION'),
  StyleModelLoader: handle('STYLE_MODEL'),
  LoraLoader: async (i) => out(i['model'], i['clip']),
  KSamplerSelect: handle('SAMPLER'),
  RandomNoise: async (i) => out({ seed: i['noise_seed'] }),
  BasicScheduler: async (i) => out({ steps: num(i['steps']) }),
  BasicGuider: async (i) => out({ cond: i['conditioning'] }),
  CFGGuider: async (i) => out({ cond: i['positive'] }),
  CLIPTextEncode: async (i) => out({ texts: [String(i['text'])] } satisfies Conditioning),
  ConditioningZeroOut: async () => out({ texts: [] } satisfies Conditioning),
  FluxGuidance: async (i) => out(i['conditioning']),
  CLIPVisionEncode: async (i) => {
    const h = createHash('sha256');
    for (const f of frames(i['image'])) h.update(f.data);
    return out({ hash: h.digest('hex').slice(0, 16) });
  },
  StyleModelApply: async (i) => {
    const c = i['conditioning'] as Conditioning;
    return out({ texts: [...c.texts, `style:${(i['clip_vision_output'] as { hash: string }).hash}`] });
  },
  EmptyLatentImage: async (i) =>
    out({
      width: num(i['width']),
      height: num(i['height']),
      batch: num(i['batch_size']),
      seed: '',
    } satisfies Latent),
  EmptySD3LatentImage: async (i) =>
    out({
      width: num(i['width']),
      height: num(i['height']),
      batch: num(i['batch_size']),
      seed: '',
    } satisfies Latent),
  VAEEncode: async (i) => {
    const src = frames(i['pixels']);
    const h = createHash('sha256');
    for (const f of src) h.update(f.data);
    const first = src[0]!;
    return out({
      width: first.width,
      height: first.height,
      batch: src.length,
      seed: h.digest('hex'),
    } satisfies Latent);
  },
  KSampler: async (i, ctx) =>
    out(await sample(ctx, i['latent_image'] as Latent, num(i['steps']), i['seed'], i['positive'])),
  KSamplerAdvanced: async (i, ctx) => {
    const steps = Math.max(0, Math.min(num(i['end_at_step']), num(i['steps'])) - num(i['start_at_step']));
    return out(await sample(ctx, i['latent_image'] as Latent, steps, i['noise_seed'], i['positive']));
  },
  SamplerCustomAdvanced: async (i, ctx) => {
    const steps = (i['sigmas'] as { steps: number }).steps;
    const guider = i['guider'] as { cond: unknown };
    const latent = await sample(
      ctx,
      i['latent_image'] as Latent,
      steps,
      (i['noise'] as { seed: unknown }).seed,
      guider.cond,
    );
    return out(latent, latent);
  },
  VAEDecode: async (i) => {
    const l = i['samples'] as Latent;
    return out(Array.from({ length: l.batch }, (_, b) => synthesize(`${l.seed}|${b}`, l.width, l.height)));
  },
};
