import { startComfyDouble } from '../support/comfyui-double/index.js';
import { runProtocolSuite } from './protocol-suite.js';

runProtocolSuite('test double (0.3.64)', async () => {
  const double = await startComfyDouble();
  return { url: double.url, cleanup: () => double.close() };
});
