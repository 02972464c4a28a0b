import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // test/comfyui-real needs a ComfyUI at COMFYUI_URL: `npm run test:comfyui` (vitest.comfyui.config.ts) runs it;
    // test/distributed needs PostgreSQL, Redis and s3rver: `npm run test:distributed` (vitest.distributed.config.ts).
    exclude: [...configDefaults.exclude, 'test/comfyui-real/**', 'test/distributed/**'],
    // Rebuilds dist/ when src/ changed since: the CLI and crash tests spawn the compiled CLI.
    globalSetup: ['test/global-setup.ts'],
    // Image and SQLite tests are CPU-bound; the machine has 2 cores.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
