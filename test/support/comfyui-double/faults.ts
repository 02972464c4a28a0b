/** The faults a test can switch on, and the questions the router and the executor ask about them. */

export type ComfyFault =
  | { kind: 'refuse-connections' }
  | { kind: 'http-500'; route?: string; times?: number }
  | { kind: 'drop-socket-mid-job' }
  | { kind: 'lose-jobs' }
  | { kind: 'hang'; route?: string }
  | { kind: 'stall-jobs' }
  | { kind: 'corrupt-output' }
  | { kind: 'slow-view'; delayMs: number };

/** `/api/x` and `/x` are one route to ComfyUI, so they are one route to a fault too. */
export const normalizeRoute = (path: string): string => (path.startsWith('/api/') ? path.slice(4) : path);

const matches = (route: string | undefined, path: string): boolean => {
  if (route === undefined) return true;
  const r = normalizeRoute(route),
    p = normalizeRoute(path);
  return p === r || p.startsWith(`${r}/`);
};

export class FaultState {
  private active: ComfyFault[] = [];
  private stallWaiters: (() => void)[] = [];

  add(fault: ComfyFault): void {
    this.active.push(structuredClone(fault));
  }

  clear(): void {
    this.active = [];
    this.releaseStalls();
  }

  has(kind: ComfyFault['kind']): boolean {
    return this.active.some((f) => f.kind === kind);
  }

  /** Whether this request gets a 500; counts down `times` and retires the fault when spent. */
  takeHttp500(path: string): boolean {
    const i = this.active.findIndex((f) => f.kind === 'http-500' && matches(f.route, path));
    if (i < 0) return false;
    const f = this.active[i] as Extract<ComfyFault, { kind: 'http-500' }>;
    if (f.times !== undefined && --f.times <= 0) this.active.splice(i, 1);
    return true;
  }

  hangs(path: string): boolean {
    return this.active.some((f) => f.kind === 'hang' && matches(f.route, path));
  }

  viewDelayMs(): number {
    return Math.max(0, ...this.active.map((f) => (f.kind === 'slow-view' ? f.delayMs : 0)));
  }

  /** lose-jobs is consumed by the restart it causes: a later job runs normally unless injected again. */
  takeLoseJobs(): boolean {
    const i = this.active.findIndex((f) => f.kind === 'lose-jobs');
    if (i < 0) return false;
    this.active.splice(i, 1);
    return true;
  }

  /** Resolves once stall-jobs is cleared (or `signal` aborts: the server went away). */
  async waitWhileStalled(signal: AbortSignal): Promise<void> {
    while (this.has('stall-jobs') && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.stallWaiters.push(resolve);
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  }

  releaseStalls(): void {
    const waiters = this.stallWaiters;
    this.stallWaiters = [];
    for (const w of waiters) w();
  }
}
