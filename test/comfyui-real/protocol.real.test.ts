import { runProtocolSuite } from '../comfyui/protocol-suite.js';

runProtocolSuite(`real ComfyUI at ${process.env['COMFYUI_URL'] ?? '(COMFYUI_URL unset)'}`, async () => {
  const url = process.env['COMFYUI_URL'];
  if (!url) {
    throw new Error(
      'COMFYUI_URL is not set: start a ComfyUI (e.g. ../shared/comfyui/start 8188) and run ' +
        'COMFYUI_URL=http://127.0.0.1:8188 npm run test:comfyui',
    );
  }
  const reachable = await fetch(`${url}/system_stats`, { signal: AbortSignal.timeout(5000) }).catch(
    (e: unknown) => e,
  );
  if (!(reachable instanceof Response) || !reachable.ok) {
    throw new Error(`COMFYUI_URL=${url} does not answer GET /system_stats: ${String(reachable)}`);
  }
  return { url: url.replace(/\/$/, ''), cleanup: async () => undefined };
});
