import { runProtocolSuite } from '../comfyui/protocol-suite.js';
import { realServerUrl } from './real-server.js';

runProtocolSuite(`real ComfyUI at ${process.env['COMFYUI_URL'] ?? '(COMFYUI_URL unset)'}`, async () => {
  const url = realServerUrl(); // throws with how to set COMFYUI_URL
  const reachable = await fetch(`${url}/system_stats`, { signal: AbortSignal.timeout(5000) }).catch(
    (e: unknown) => e,
  );
  if (!(reachable instanceof Response) || !reachable.ok) {
    throw new Error(`COMFYUI_URL=${url} does not answer GET /system_stats: ${String(reachable)}`);
  }
  return { url, cleanup: async () => undefined };
});
