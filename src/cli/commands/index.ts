export { registerRunCommands } from './run-commands.js';
export { registerProjectCommands } from './project-commands.js';
export { registerRunInfoCommands } from './run-info-commands.js';
export { registerComfyUiCommands } from './comfyui-commands.js';
export { registerWorkspaceCommands } from './workspace-commands.js';
export { registerAnimaticCommands } from './animatic-commands.js';
export { registerServeCommand } from './serve-command.js';
export { registerWorkerCommand } from './worker-command.js';
