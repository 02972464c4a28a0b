import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ComfyUiClient, createComfyUiBackend } from '../../src/backends/comfyui/index.js';
import { parseWorkflow, type Workflow } from '../../src/backends/comfyui/workflow.js';
import { runBackendSuite } from '../backends/backend-contract.js';
import { startComfyDouble, type ComfyDoubleOptions } from '../support/comfyui-double/index.js';
import { runClientSuite, runRestartSuite } from './client-suite.js';

/** The double's slow job: a simulated sampler, 40 steps of 50 ms, saved by node 3 like the real server's slow job. */
export function doubleSlowWorkflow(tag: string): Workflow {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'test.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: tag, clip: ['4', 1] } },
    '7': {
      class_type: 'KSampler',
      inputs: {
        seed: 1,
        steps: 40,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['6', 0],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['7', 0], vae: ['4', 2] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: `sc-test/${tag}` } },
  };
}

const OPTIONS: ComfyDoubleOptions = { samplerStepMs: 50, models: { checkpoints: ['test.safetensors'] } };

for (const version of ['0.3.64', '0.3.40']) {
  runClientSuite(`the test double (ComfyUI ${version})`, async () => {
    const double = await startComfyDouble({ ...OPTIONS, version });
    return {
      url: double.url,
      slowWorkflow: doubleSlowWorkflow,
      ignoresClientPromptIds: version === '0.3.40',
      cleanup: () => double.close(),
    };
  });

  runRestartSuite(
    `the test double (ComfyUI ${version})`,
    async () => {
      const double = await startComfyDouble({ ...OPTIONS, version });
      return {
        url: double.url,
        slowWorkflow: doubleSlowWorkflow,
        stop: () => double.stop(),
        start: () => double.start(),
        cleanup: () => double.close(),
      };
    },
    10_000,
  );

  // The SDXL template itself, its sampler simulated (30 steps of 10 ms): a request lasts long enough that the
  // contract's "cancel without waiting for the work" bound (half a request) is not at the mercy of machine load.
  runBackendSuite(`comfyui on the test double (ComfyUI ${version}, SDXL template)`, async () => {
    const double = await startComfyDouble({
      version,
      samplerStepMs: 10,
      models: { checkpoints: ['sd_xl_base_1.0.safetensors'] },
    });
    const file = new URL('../../examples/workflows/sdxl-text-to-image.json', import.meta.url);
    const workflow = parseWorkflow(JSON.parse(await readFile(file, 'utf8')), 'sdxl-text-to-image.json');
    const backend = await createComfyUiBackend({
      servers: [double.url],
      workflow: { workflow, source: 'sdxl-text-to-image.json' },
    });
    return {
      backend,
      cleanup: async () => {
        await backend.close();
        await double.close();
      },
    };
  });
}

describe('live previews from a sampler (the double sends them as a real GPU server does)', () => {
  it('passes each binary preview frame on as a PNG, with progress in steps', async () => {
    const double = await startComfyDouble({ ...OPTIONS, samplerStepMs: 5 });
    const client = new ComfyUiClient(double.url);
    try {
      const previews: Buffer[] = [];
      const messages: string[] = [];
      const result = await client.run(doubleSlowWorkflow('previews'), {
        onPreview: (p) => {
          expect(p.format).toBe('png');
          previews.push(p.bytes);
        },
        onProgress: (p) => messages.push(p.message ?? ''),
      });
      expect(result.outputs['3']?.images).toHaveLength(1);
      expect(previews.length).toBeGreaterThan(0);
      const meta = await sharp(previews[0]!).metadata();
      expect(meta.format).toBe('png');
      expect(messages).toContain('KSampler 20/40');
    } finally {
      await client.close();
      await double.close();
    }
  });
});
