import { createRequire } from 'node:module';
import type CliProgress from 'cli-progress';
import { formatDuration, getStageDisplayName } from '../core/status-tracker.js';
import type { ServerStatus } from '../backends/types.js';
import type { PipelineEvent } from '../pipeline/events.js';

const require = createRequire(import.meta.url);

export interface ProgressView {
  onEvent(event: PipelineEvent): void;
  /** A line for the person (TTY) or a JSON object (JSON lines). */
  note(message: string, data?: Record<string, unknown>): void;
  stop(): void;
}

/** JSON lines on stdout: one event per line, progress thinned to changes a reader can see (≥ 0.5 % or a new stage). */
export function jsonLinesView(write: (line: string) => void = (l) => process.stdout.write(l)): ProgressView {
  let lastProgress = -1;
  let lastStage = '';
  return {
    onEvent(event) {
      // Live previews are kilobytes of base64 twice a second per shot: for the studio's thumbnails, not a log.
      if (event.type === 'preview') return;
      if (event.type === 'progress') {
        if (event.progress - lastProgress < 0.5 && event.stage === lastStage && event.progress < 100) return;
        lastProgress = event.progress;
        lastStage = event.stage;
      }
      write(`${JSON.stringify({ ...event, at: new Date().toISOString() })}\n`);
    },
    note(message, data = {}) {
      write(`${JSON.stringify({ type: 'note', message, ...data })}\n`);
    },
    stop() {},
  };
}

function serverText(s: ServerStatus): string {
  if (s.state !== 'up') return `${s.name} ${s.state}`;
  return `${s.name} ${s.inFlight}${s.othersQueued > 0 ? `+${s.othersQueued}` : ''}`;
}

/** A progress bar on a terminal, with failures and stage ends printed above it. */
export function terminalView(stream: NodeJS.WriteStream = process.stderr): ProgressView {
  // Loaded here, not at the top: only a terminal draws bars, and piped runs and `--version` skip its ~10 ms.
  const cliProgress = require('cli-progress') as typeof CliProgress;
  const multi = new cliProgress.MultiBar(
    {
      stream,
      // Payload keys avoid cli-progress's own tokens ({total}, {eta}, {value}, {duration}).
      format:
        ' {stage} |{bar}| {percentage}% | shot {shot}/{shots} | {elapsedText} elapsed, ETA {etaText} {message}{servers}',
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: CliProgress.SingleBar | undefined;
  const log = (line: string): void => multi.log(`${line}\n`);
  return {
    onEvent(event) {
      switch (event.type) {
        case 'run-started':
          log(`${event.resumed ? 'Resuming' : 'Starting'} run ${event.runId}: ${event.totalShots} shots`);
          bar = multi.create(100, 0, {
            stage: 'Starting'.padEnd(22),
            shot: 0,
            shots: event.totalShots,
            elapsedText: '0m 0s',
            etaText: '…',
            message: '',
            servers: '',
          });
          break;
        case 'progress':
          bar?.update(Math.floor(event.progress * 10) / 10, {
            stage: getStageDisplayName(event.stage).padEnd(22),
            shot: event.currentShot,
            shots: event.totalShots,
            elapsedText: formatDuration(event.elapsedMs),
            etaText: formatDuration(event.etaMs),
            message: event.message ? `· ${event.message.slice(0, 40)}` : '',
          });
          break;
        case 'servers':
          if (event.message) log(`• ${event.message}`);
          // Per server, what it is doing: "gpu1 2 · gpu2 down · gpu3 1+3" (ours + other users' jobs).
          bar?.update({ servers: ` | ${event.servers.map(serverText).join(' · ')}` });
          break;
        case 'warning':
          log(`⚠ ${event.message}`);
          break;
        case 'stage-completed':
          log(`✔ ${getStageDisplayName(event.stage)} (${formatDuration(event.durationMs)})`);
          break;
        case 'step-failed':
          log(
            `✖ ${event.stepId} attempt ${event.attempt}: ${event.error.message}` +
              (event.error.rootCause ? ` (cause: ${event.error.rootCause})` : '') +
              (event.next === 'retry'
                ? ` → retrying in ${formatDuration(event.delayMs ?? 0)}`
                : ' → giving up'),
          );
          break;
        default:
          break;
      }
    },
    note(message) {
      log(message);
    },
    stop() {
      // Logged lines are written on the next render; render once more so the last ones are not lost.
      multi.update();
      multi.stop();
    },
  };
}
