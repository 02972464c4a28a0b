import { readFile } from 'node:fs/promises';
import { createComfyUiBackend } from '../../src/backends/comfyui/index.js';
import { parseWorkflow } from '../../src/backends/comfyui/workflow.js';
import { runBackendSuite } from '../backends/backend-contract.js';
import { realServerUrl } from './real-server.js';

// The same contract every backend passes, on a real ComfyUI with the bundled model-free demo workflow.
runBackendSuite('comfyui on a real server (demo workflow)', async () => {
  const file = new URL('../../examples/workflows/demo-model-free.json', import.meta.url);
  const workflow = parseWorkflow(JSON.parse(await readFile(file, 'utf8')), 'demo-model-free.json');
  const backend = await createComfyUiBackend({
    servers: [realServerUrl()],
    workflow: { workflow, source: 'demo-model-free.json' },
  });
  return { backend, cleanup: () => backend.close() };
});
