import { describe, expect, it } from 'vitest';
import { parseBinaryMessage, parseJsonMessage } from '../../src/backends/comfyui/messages.js';
import type { ObjectInfo } from '../../src/backends/comfyui/object-info.js';
import { validateWorkflow } from '../../src/backends/comfyui/validate-workflow.js';
import { compareVersions, featuresOf } from '../../src/backends/comfyui/version.js';
import {
  fillWorkflow,
  findFrameNode,
  parseWorkflow,
  workflowHash,
  type PlaceholderValues,
  type Workflow,
} from '../../src/backends/comfyui/workflow.js';
import { ValidationError } from '../../src/core/errors.js';

/** A slice of a real ComfyUI 0.3.64 /object_info, in both the old (list) and new ("COMBO") enum shapes. */
const INFO: ObjectInfo = {
  EmptyImage: {
    input: {
      required: {
        width: ['INT', { default: 512, min: 1, max: 16384 }],
        height: ['INT', { default: 512, min: 1, max: 16384 }],
        batch_size: ['INT', { default: 1, min: 1, max: 4096 }],
        color: ['INT', { default: 0, min: 0, max: 0xffffff }],
      },
    },
    output: ['IMAGE'],
    output_node: false,
  },
  CheckpointLoaderSimple: {
    input: { required: { ckpt_name: [['base.safetensors'], {}] } },
    output: ['MODEL', 'CLIP', 'VAE'],
  },
  KSampler: {
    input: {
      required: {
        seed: ['INT', { min: 0, max: 2 ** 64 - 1 }],
        sampler_name: ['COMBO', { options: ['euler', 'dpmpp_2m'] }],
        model: ['MODEL'],
      },
    },
    output: ['LATENT'],
  },
  SaveImage: {
    input: { required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'ComfyUI' }] } },
    output: [],
    output_node: true,
  },
  PreviewImage: { input: { required: { images: ['IMAGE'] } }, output: [], output_node: true },
};

const VALUES: PlaceholderValues = {
  prompt: 'a "quoted" prompt\nwith a newline',
  negative_prompt: 'blurry',
  seed: 2 ** 40 + 7,
  width: 640,
  height: 360,
  reference_image: 'storycore-ref-abc.png',
  filename_prefix: 'storycore/tag/shot-1_42',
  shot_id: 'shot-1',
};

const base = (): Workflow => ({
  '1': {
    class_type: 'EmptyImage',
    inputs: { width: '{{width}}', height: '{{height}}', batch_size: 1, color: '{{seed}}' },
  },
  '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'frames/{{shot_id}}' } },
});

describe('workflow placeholders', () => {
  it('fills whole-value numbers as numbers and strings verbatim, JSON-safe', () => {
    const filled = fillWorkflow(base(), VALUES, INFO);
    expect(filled['1']!.inputs['width']).toBe(640);
    expect(filled['1']!.inputs['height']).toBe(360);
    expect(JSON.parse(JSON.stringify(filled))).toEqual(filled);
  });

  it('folds a seed into an input whose range is narrower, keeping different seeds different', () => {
    const a = fillWorkflow(base(), { ...VALUES, seed: 2 ** 40 + 7 }, INFO)['1']!.inputs['color'];
    const b = fillWorkflow(base(), { ...VALUES, seed: 2 ** 40 + 8 }, INFO)['1']!.inputs['color'];
    expect(a).toBe((2 ** 40 + 7) % 0x1000000);
    expect(b).not.toBe(a);
    const ks: Workflow = {
      '3': { class_type: 'KSampler', inputs: { seed: '{{seed}}', sampler_name: 'euler', model: ['9', 0] } },
    };
    expect(fillWorkflow(ks, VALUES, INFO)['3']!.inputs['seed']).toBe(2 ** 40 + 7);
  });

  it('puts the run-and-shot prefix on every filename_prefix, also literal ones', () => {
    const filled = fillWorkflow(base(), VALUES, INFO);
    expect(filled['2']!.inputs['filename_prefix']).toBe('storycore/tag/shot-1_42_frames/shot-1');
    const explicit = fillWorkflow(
      {
        '2': {
          class_type: 'SaveImage',
          inputs: { images: ['1', 0], filename_prefix: '{{filename_prefix}}' },
        },
      },
      VALUES,
    );
    expect(explicit['2']!.inputs['filename_prefix']).toBe('storycore/tag/shot-1_42');
  });

  it('rejects an unknown placeholder, naming node and input', () => {
    const wf = base();
    wf['2']!.inputs['filename_prefix'] = '{{sede}}';
    expect(() => parseWorkflow(wf, 'shot.json')).toThrow(ValidationError);
    try {
      parseWorkflow(wf, 'shot.json');
    } catch (e) {
      expect((e as ValidationError).issues[0]!.path).toBe('$["2"].inputs.filename_prefix');
      expect((e as ValidationError).issues[0]!.message).toMatch(/unknown placeholder \{\{sede\}\}/);
    }
  });

  it('recognises the UI format and says to use "Save (API format)"', () => {
    const error = (() => {
      try {
        parseWorkflow({ nodes: [], links: [] }, 'ui.json');
      } catch (e) {
        return e as ValidationError;
      }
      return undefined;
    })();
    expect(error?.message).toBe('ui.json is not a usable ComfyUI workflow');
    expect(error?.issues[0]?.message).toMatch(/UI format.*Save \(API format\)/);
  });

  it('hashes a workflow canonically: key order does not matter, a changed value does', () => {
    const a = base();
    const b: Workflow = { '2': a['2']!, '1': a['1']! };
    expect(workflowHash(a)).toBe(workflowHash(b));
    const c = base();
    c['1']!.inputs['batch_size'] = 2;
    expect(workflowHash(c)).not.toBe(workflowHash(a));
  });
});

describe('which output is the frame', () => {
  it('is the single image output, or the node titled storycore:frame', () => {
    expect(findFrameNode(base(), INFO, 'x')).toBe('2');
    const two = { ...base(), '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } } as Workflow;
    expect(() => findFrameNode(two, INFO, 'x')).toThrow(/2 image outputs \(nodes 2, 3\).*storycore:frame/);
    two['3']!._meta = { title: 'storycore:frame' };
    expect(findFrameNode(two, INFO, 'x')).toBe('3');
  });
});

describe('validation against /object_info', () => {
  it('lists every problem with its node: unknown type, missing input, model, enum, range, dangling link', () => {
    const wf: Workflow = {
      '1': { class_type: 'EmptyImage', inputs: { width: 0, height: 64, batch_size: 1 } },
      '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sdxl.safetensors' } },
      '5': { class_type: 'KSampler', inputs: { seed: 1, sampler_name: 'nope', model: ['4', 0] } },
      '6': { class_type: 'MyCustomNode', inputs: {} },
      '2': { class_type: 'SaveImage', inputs: { images: ['99', 0], filename_prefix: 'x' } },
    };
    const messages = validateWorkflow(wf, INFO).map((i) => i.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        'node 1 EmptyImage: width 0 is below the minimum 1',
        'node 1 EmptyImage: required input "color" is missing',
        "node 4 CheckpointLoaderSimple: ckpt_name 'sdxl.safetensors' is not one of the server's models (base.safetensors)",
        "node 5 KSampler: sampler_name 'nope' is not one of the allowed values (euler, dpmpp_2m)",
        'node 6 MyCustomNode: the server has no node type "MyCustomNode" (a custom node that is not installed?)',
        'node 2 SaveImage: input "images" links to node 99, which is not in the workflow',
      ]),
    );
    expect(messages).toHaveLength(6);
  });

  it('flags a link to the wrong kind of output', () => {
    const wf: Workflow = {
      '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'base.safetensors' } },
      '2': { class_type: 'SaveImage', inputs: { images: ['4', 0], filename_prefix: 'x' } },
    };
    expect(validateWorkflow(wf, INFO).map((i) => i.message)).toEqual([
      'node 2 SaveImage: input "images" expects IMAGE but node 4 CheckpointLoaderSimple output 0 is MODEL',
    ]);
  });
});

describe('WebSocket frames', () => {
  it('reads the image format at byte 4 and the image from byte 8 (type 1 previews)', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 2]), png]);
    expect(parseBinaryMessage(frame)).toEqual({ kind: 'preview', preview: { format: 'png', bytes: png } });
    const jpeg = Buffer.concat([Buffer.from([0, 0, 0, 1, 0, 0, 0, 1]), Buffer.from([0xff, 0xd8])]);
    expect(parseBinaryMessage(jpeg)).toMatchObject({ preview: { format: 'jpeg' } });
  });

  it('reads type 4 previews with their JSON header and type 3 node text', () => {
    const meta = Buffer.from(JSON.stringify({ image_type: 'image/png', node_id: '7', prompt_id: 'p1' }));
    const head = Buffer.alloc(8);
    head.writeUInt32BE(4, 0);
    head.writeUInt32BE(meta.length, 4);
    expect(parseBinaryMessage(Buffer.concat([head, meta, Buffer.from([1, 2])]))).toEqual({
      kind: 'preview',
      preview: { format: 'png', bytes: Buffer.from([1, 2]), nodeId: '7', promptId: 'p1' },
    });
    const id = Buffer.from('12');
    const text = Buffer.alloc(8);
    text.writeUInt32BE(3, 0);
    text.writeUInt32BE(id.length, 4);
    expect(parseBinaryMessage(Buffer.concat([text, id, Buffer.from('héllo')]))).toEqual({
      kind: 'text',
      nodeId: '12',
      text: 'héllo',
    });
  });

  it('ignores garbage instead of throwing', () => {
    expect(parseBinaryMessage(Buffer.from([0, 0]))).toBeUndefined();
    expect(parseBinaryMessage(Buffer.from([0, 0, 0, 4, 0, 0, 0, 99]))).toBeUndefined();
    expect(parseJsonMessage('not json')).toBeUndefined();
    expect(parseJsonMessage('{"data": {}}')).toBeUndefined();
    expect(parseJsonMessage('{"type": "status", "data": null}')).toEqual({ type: 'status', data: {} });
  });
});

describe('server versions', () => {
  it('targets interrupts from 0.3.64 on; older or unknown servers get the careful path', () => {
    expect(featuresOf('0.3.64').targetedInterrupt).toBe(true);
    expect(featuresOf('0.4.1').targetedInterrupt).toBe(true);
    expect(featuresOf('0.3.40').targetedInterrupt).toBe(false);
    expect(featuresOf(undefined)).toEqual({ version: 'unknown', targetedInterrupt: false });
    expect(compareVersions('0.3.10', '0.3.9')).toBeGreaterThan(0);
  });
});
