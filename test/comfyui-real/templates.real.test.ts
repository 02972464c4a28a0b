import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ComfyUiClient } from '../../src/backends/comfyui/index.js';
import { validateWorkflow } from '../../src/backends/comfyui/validate-workflow.js';
import { findFrameNode, parseWorkflow } from '../../src/backends/comfyui/workflow.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { realServerUrl } from './real-server.js';

const DIR = join(REPO_ROOT, 'examples', 'workflows');

describe('the bundled workflow templates on a real ComfyUI', async () => {
  const files = (await readdir(DIR)).filter((f) => f.endsWith('.json')).sort();
  it('are all here', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'demo-model-free.json',
        'sdxl-text-to-image.json',
        'flux1-dev-text-to-image.json',
        'flux1-dev-redux-sheet-reference.json',
      ]),
    );
  });
  for (const file of files) {
    it(`${file} validates against the server's /object_info (only model files may be missing)`, async () => {
      const client = new ComfyUiClient(realServerUrl());
      try {
        const info = await client.objectInfo();
        const workflow = parseWorkflow(JSON.parse(await readFile(join(DIR, file), 'utf8')), file);
        const problems = validateWorkflow(workflow, info).filter(
          (i) => !/is not one of the server's models/.test(i.message),
        );
        expect(problems).toEqual([]);
        expect(findFrameNode(workflow, info, file)).toMatch(/\S/);
        if (file.startsWith('demo-')) expect(validateWorkflow(workflow, info)).toEqual([]);
      } finally {
        await client.close();
      }
    });
  }
});
