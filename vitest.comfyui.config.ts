import { defineConfig } from 'vitest/config';

/** `npm run test:comfyui`: the suites that need a real ComfyUI at COMFYUI_URL. One file at a time: they share it. */
export default defineConfig({
  test: {
    include: ['test/comfyui-real/**/*.test.ts'],
    // The end-to-end suite spawns the compiled CLI: rebuild dist/ when src/ changed since.
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
  },
});
