import { describe, it } from 'vitest';
import { runClientSuite, runRestartSuite } from '../comfyui/client-suite.js';
import {
  hasKit,
  KIT,
  realServerUrl,
  realSlowWorkflow,
  startKitServer,
  stopKitServer,
} from './real-server.js';

runClientSuite('a real ComfyUI (COMFYUI_URL)', async () => ({
  url: realServerUrl(),
  slowWorkflow: realSlowWorkflow,
  cleanup: async () => undefined,
}));

// A second server of our own on its own port, because these tests kill it.
const PORT = Number(process.env['COMFYUI_KILL_PORT'] ?? 8190);
if (hasKit) {
  runRestartSuite(
    `a real ComfyUI started from ${KIT} on port ${PORT}`,
    async () => {
      const url = await startKitServer(PORT);
      return {
        url,
        slowWorkflow: realSlowWorkflow,
        stop: () => stopKitServer(PORT),
        start: async () => void (await startKitServer(PORT)),
        cleanup: () => stopKitServer(PORT),
      };
    },
    // A real ComfyUI takes ~10 s to come back (more on a busy machine).
    90_000,
  );
} else {
  describe('ComfyUI client when a real server dies or restarts mid-job', () => {
    it.skip(`needs the start/stop kit (${KIT}; set COMFYUI_KIT)`, () => undefined);
  });
}
