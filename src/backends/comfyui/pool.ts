import { setMaxListeners } from 'node:events';
import { cancellationFrom } from '../../core/abort.js';
import { BackendUnreachableError, errorMessage } from '../../core/errors.js';
import type { BackendStatus, ServerStatus } from '../types.js';
import type { ComfyUiClient } from './client.js';
import type { ObjectInfo } from './object-info.js';

/**
 * The servers of one ComfyUI backend and what the backend knows about each: whether it is up, how loaded it is
 * (our jobs in flight plus everyone else's queue), and the circuit breaker that takes it out of routing after
 * consecutive failures and lets it back in when a probe finds it healthy. `acquire` hands out a slot on the least
 * loaded live server, waiting while all are full — or, while none is up, for at most `outageTimeoutMs`.
 */

export interface PoolOptions {
  /** Jobs of ours queued behind the running one on each server, so its GPU never idles between jobs. @default 1 */
  queueDepth?: number;
  /** How often every server is probed (`/system_stats`, and `/queue` for its load), ms. @default 5000 */
  healthIntervalMs?: number;
  /** Consecutive failures (jobs or probes) that take a server out of routing. @default 2 */
  failureThreshold?: number;
  /** How long a run waits for any server while all are down before its shots fail, ms. @default 60000 */
  outageTimeoutMs?: number;
  /** One probe's time limit, ms. @default 2000 */
  probeTimeoutMs?: number;
}

export type MemberState = 'up' | 'down' | 'excluded';

/** One server of the pool. The backend reads `client`, `info` and `uploads`; the pool owns the rest. */
export class PoolMember {
  state: MemberState;
  /** Why it is down or excluded. */
  reason: string | undefined;
  version: string | undefined;
  info: ObjectInfo | undefined;
  /** Jobs of ours holding a slot here. */
  inFlight = 0;
  /** Jobs of other users queued or running here (the server's queue minus ours), from `/queue` and `status`. */
  external = 0;
  /** When `external` was read from `/queue`. */
  externalAt = 0;
  failures = 0;
  /** sha256 of a reference image → the name it was uploaded under (one upload per server). */
  readonly uploads = new Map<string, Promise<string>>();
  /** Prompt ids of ours the server holds right now. */
  readonly promptIds = new Set<string>();
  /** Jobs moved away while the server was unreachable: deleted from its queue when it answers again. */
  readonly stale = new Set<string>();
  /** Aborted when the server is taken out of routing: its jobs stop waiting for it and move. */
  private downController = listenable(new AbortController());

  constructor(
    readonly client: ComfyUiClient,
    /** Short name in messages: host:port. */
    readonly name: string,
    state: MemberState,
    reason?: string,
  ) {
    this.state = state;
    this.reason = reason;
  }

  /** Other users' jobs here: from the fresher of our last `/queue` poll and the socket's last `status`. */
  get othersQueued(): number {
    const status = this.client.queueRemaining;
    if (status && status.at > this.externalAt) return Math.max(0, status.count - this.promptIds.size);
    return this.external;
  }

  get downSignal(): AbortSignal {
    return this.downController.signal;
  }

  markDown(reason: string): void {
    this.state = 'down';
    this.reason = reason;
    this.downController.abort(new BackendUnreachableError(`${this.name} left the pool: ${reason}`));
  }

  markUp(): void {
    this.state = 'up';
    this.reason = undefined;
    this.downController = listenable(new AbortController());
  }
}

/** Which server ran a moved job next, for the one report per server that went down. */
interface MoveReport {
  /** Set once the server is down: the report is said when no moved job is still looking for a server. */
  reason: string | undefined;
  pending: Set<string>;
  targets: string[];
  /** Taken out for a hung job (it still answers), not for failing to answer. */
  hung?: boolean;
}

/** What admitting a server that answers again involves (its version and `/object_info` checked by the backend). */
export type AdmitCheck = (member: PoolMember, signal: AbortSignal) => Promise<string | undefined>;

export class ServerPool {
  readonly perServer: number;
  private readonly failureThreshold: number;
  private readonly outageTimeoutMs: number;
  private readonly probeTimeoutMs: number;
  private readonly healthIntervalMs: number;
  private waiters: Array<() => void> = [];
  private outageSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;
  private probing: Promise<void> | undefined;
  private readonly listeners = new Set<(status: BackendStatus) => void>();
  private readonly reports = new Map<PoolMember, MoveReport>();
  private readonly messages: string[] = [];
  private closed = false;

  constructor(
    readonly members: readonly PoolMember[],
    private readonly admitCheck: AdmitCheck,
    options: PoolOptions = {},
  ) {
    this.perServer = 1 + Math.max(0, options.queueDepth ?? 1);
    this.failureThreshold = Math.max(1, options.failureThreshold ?? 2);
    this.outageTimeoutMs = Math.max(0, options.outageTimeoutMs ?? 60_000);
    this.probeTimeoutMs = options.probeTimeoutMs ?? 2000;
    this.healthIntervalMs = Math.max(50, options.healthIntervalMs ?? 5000);
    for (const m of members) if (m.state !== 'up') this.messages.push(`${m.name} ${m.state}: ${m.reason}`);
    this.timer = setInterval(() => void this.probeAll(), this.healthIntervalMs);
    this.timer.unref();
  }

  /** Slots over every server that qualified at start (down ones included: they are expected back). */
  get capacity(): number {
    return Math.max(1, this.members.filter((m) => m.state !== 'excluded').length * this.perServer);
  }

  /**
   * A slot on the least-loaded live server, preferring servers not in `avoid` (where this job just failed). Waits
   * while every live server is full; while none is up, waits at most what is left of the outage allowance, then
   * rejects with a BackendUnreachableError that names every server and why.
   */
  async acquire(
    signal: AbortSignal | undefined,
    avoid: ReadonlySet<PoolMember>,
    prefer?: PoolMember,
  ): Promise<PoolMember> {
    for (;;) {
      if (signal?.aborted) throw cancellationFrom(signal);
      if (this.closed) throw new BackendUnreachableError('the ComfyUI pool is closed');
      const member =
        prefer && prefer.state === 'up' && !avoid.has(prefer) && prefer.inFlight < this.perServer
          ? prefer
          : this.pick(avoid);
      if (member) {
        member.inFlight++;
        this.changed();
        return member;
      }
      let waitMs: number | undefined;
      if (!this.members.some((m) => m.state === 'up')) {
        this.outageSince ??= Date.now();
        const left = this.outageTimeoutMs - (Date.now() - this.outageSince);
        if (left <= 0) throw this.outageError();
        waitMs = left;
      }
      await this.waitForChange(signal, waitMs);
    }
  }

  /**
   * The live server that holds the job `promptId` (queued, running or finished), if one answers within a second;
   * servers that fail to answer are simply not it.
   */
  async locate(promptId: string, signal?: AbortSignal): Promise<PoolMember | undefined> {
    const live = this.members.filter((m) => m.state === 'up');
    const timeout = AbortSignal.timeout(1000);
    const lookSignal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const found = await Promise.all(
      live.map((m) =>
        m.client.locate(promptId, lookSignal).then(
          (where) => (where ? m : undefined),
          () => undefined,
        ),
      ),
    );
    return found.find((m) => m !== undefined);
  }

  release(member: PoolMember): void {
    member.inFlight = Math.max(0, member.inFlight - 1);
    this.changed();
    this.wake();
  }

  /** A job finished on `member`: the server works, whatever probes said; jobs moved off it earlier stay moved. */
  succeeded(member: PoolMember): void {
    member.failures = 0;
    if (member.state === 'up') this.reports.delete(member);
  }

  /** A probe failed, or a job failed because of the server; enough in a row take it out of routing. */
  failed(member: PoolMember, error: unknown): void {
    if (member.state !== 'up') return;
    member.failures++;
    if (member.failures >= this.failureThreshold) this.takeDown(member, errorMessage(error));
  }

  /** A job (`label`) failed on `member` because of the server and will move: counted, and named if it goes down. */
  failedJob(member: PoolMember, label: string, error: unknown): void {
    // With no other live server a job's failure is the step's to retry, as without a pool: only probes take the
    // last server out.
    if (!this.hasAlternative(new Set([member]))) return;
    this.reportOf(member).pending.add(label);
    this.failed(member, error);
  }

  /**
   * A job hung on `member`: it ran past the job timeout while the server kept answering. The server is taken out at
   * once, even when it is the last one: its probes answer, so only this can see it, and every job sent there would
   * queue behind the hung one (whose timeout counts from its start, so a queued job would wait for ever). It is let
   * back in once a probe finds the hung job gone from its queue (see `probe`).
   */
  quarantine(member: PoolMember, label: string, error: unknown): void {
    if (member.state !== 'up') return;
    const report = this.reportOf(member);
    report.pending.add(label);
    report.hung = true;
    this.takeDown(member, `hung: ${errorMessage(error)}`);
  }

  /** Whether a live server outside `avoid` exists (somewhere else to move a job). */
  hasAlternative(avoid: ReadonlySet<PoolMember>): boolean {
    return this.members.some((m) => m.state === 'up' && !avoid.has(m));
  }

  /** A job that left `from` has been queued on `to` (or ended without another server: `to` undefined). */
  moved(from: PoolMember, label: string, to: PoolMember | undefined): void {
    const report = this.reports.get(from);
    if (!report?.pending.has(label)) return;
    report.pending.delete(label);
    if (to) report.targets.push(to.name);
    this.maybeReport(from, report);
  }

  onStatus(listener: (status: BackendStatus) => void): () => void {
    this.listeners.add(listener);
    // A late subscriber (the run starts after the backend checked its servers) hears what happened so far.
    listener({
      servers: this.snapshot(),
      ...(this.messages.length ? { message: this.messages.join('; ') } : {}),
    });
    return () => this.listeners.delete(listener);
  }

  snapshot(): ServerStatus[] {
    return this.members.map((m) => ({
      server: m.client.url,
      name: m.name,
      state: m.state,
      inFlight: m.inFlight,
      othersQueued: m.othersQueued,
      ...(m.version ? { version: m.version } : {}),
      ...(m.reason ? { reason: m.reason } : {}),
    }));
  }

  /** Every server probed now; one round at a time. */
  probeAll(): Promise<void> {
    this.probing ??= Promise.all(this.members.map((m) => this.probe(m))).then(
      () => {
        this.probing = undefined;
      },
      () => {
        this.probing = undefined;
      },
    );
    return this.probing;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.snapshotTimer);
    this.wake();
    await this.probing;
    // Jobs moved away from a server that is back by now would otherwise run there for nobody.
    await Promise.all(
      this.members
        .filter((m) => m.stale.size > 0)
        .map((m) => Promise.all([...m.stale].map((id) => m.client.cancelOnServer(id)))),
    );
  }

  private pick(avoid: ReadonlySet<PoolMember>): PoolMember | undefined {
    const live = this.members.filter((m) => m.state === 'up');
    const fresh = live.filter((m) => !avoid.has(m));
    // A server this job failed on is used again only when it is the only one left.
    const candidates = fresh.length > 0 ? fresh : live;
    let best: PoolMember | undefined;
    for (const m of candidates) {
      if (m.inFlight >= this.perServer) continue;
      // Other users' jobs count against capacity, but each live server always takes one of ours: a server kept
      // busy by others still serves us in turn.
      const load = m.inFlight + m.othersQueued;
      if (m.inFlight > 0 && load >= this.perServer) continue;
      if (!best || load < best.inFlight + best.othersQueued) best = m;
    }
    return best;
  }

  private takeDown(member: PoolMember, reason: string): void {
    const report = this.reportOf(member);
    for (const label of this.jobLabels(member)) report.pending.add(label);
    report.reason = reason;
    member.markDown(reason);
    this.maybeReport(member, report);
    if (!this.members.some((m) => m.state === 'up')) {
      this.outageSince ??= Date.now();
      this.announce(
        `every ComfyUI server is down: waiting up to ${Math.round(this.outageTimeoutMs / 1000)} s for one to come back`,
      );
    }
    this.wake();
  }

  private reportOf(member: PoolMember): MoveReport {
    let report = this.reports.get(member);
    if (!report) this.reports.set(member, (report = { reason: undefined, pending: new Set(), targets: [] }));
    return report;
  }

  /** The one line per server that went down: how many of our shots were on it and where they went. */
  private maybeReport(member: PoolMember, report: MoveReport): void {
    if (report.reason === undefined || report.pending.size > 0) return;
    this.reports.delete(member);
    const count = report.targets.length;
    const moved =
      count === 0
        ? 'no shots were on it'
        : `its ${count} shot${count === 1 ? '' : 's'} moved to ${joinNames([...new Set(report.targets)])}`;
    this.announce(
      `${member.name} ${report.hung ? 'quarantined' : 'unreachable'} (${report.reason}): ${moved}`,
    );
  }

  /** Labels of jobs on a member, registered by the backend while they run. */
  private readonly labels = new Map<PoolMember, Map<string, number>>();

  track(member: PoolMember, label: string): () => void {
    let m = this.labels.get(member);
    if (!m) this.labels.set(member, (m = new Map()));
    m.set(label, (m.get(label) ?? 0) + 1);
    return () => {
      const n = (m.get(label) ?? 1) - 1;
      if (n <= 0) m.delete(label);
      else m.set(label, n);
    };
  }

  private jobLabels(member: PoolMember): Iterable<string> {
    return this.labels.get(member)?.keys() ?? [];
  }

  private async probe(member: PoolMember): Promise<void> {
    if (member.state === 'excluded' || this.closed) return;
    const signal = AbortSignal.timeout(this.probeTimeoutMs);
    try {
      if (member.state === 'up') {
        const queue = await member.client.queue(signal);
        const all = [...queue.running, ...queue.pending];
        member.external = all.filter((id) => !member.promptIds.has(id)).length;
        member.externalAt = Date.now();
        this.wake();
        return;
      }
      await member.client.systemStats(signal);
      const refusal = await this.admitCheck(
        member,
        AbortSignal.timeout(Math.max(this.probeTimeoutMs, 30_000)),
      );
      if (refusal !== undefined) {
        member.state = 'excluded';
        member.reason = refusal;
        this.announce(`${member.name} excluded: ${refusal}`);
        return;
      }
      // Still running a job we moved away (quarantined for a hung job, or it was only slow to answer): it stays out
      // while that job runs, since ours would wait behind it. The cancel is sent again every round: a server that
      // recovers acts on it (an interrupt lands at the hung node's next step), and the next probe lets it back in.
      const { running } = await member.client.queue(AbortSignal.timeout(this.probeTimeoutMs));
      const stuck = running.filter((id) => member.stale.has(id));
      if (stuck.length > 0) {
        await Promise.all(stuck.map((id) => member.client.cancelOnServer(id)));
        return;
      }
      // Jobs moved away while it was gone must not run here now: delete them (and interrupt, if one runs).
      const stale = [...member.stale];
      member.stale.clear();
      await Promise.all(stale.map((id) => member.client.cancelOnServer(id)));
      member.markUp();
      // Half-open: one more failure takes it out again.
      member.failures = this.failureThreshold - 1;
      member.external = 0;
      this.outageSince = undefined;
      this.announce(`${member.name} is back in the pool`);
      this.wake();
    } catch (error) {
      if (member.state === 'up') this.failed(member, error);
    }
  }

  private outageError(): BackendUnreachableError {
    const why = this.members.map((m) => `${m.name} ${m.state}${m.reason ? ` (${m.reason})` : ''}`).join('; ');
    return new BackendUnreachableError(
      `no ComfyUI server of the pool answered for ${Math.round(this.outageTimeoutMs / 1000)} s: ${why}. Finished shots are kept; start a server and resume the run`,
      { details: { servers: this.snapshot() } },
    );
  }

  /** Jobs came or went: listeners hear a snapshot at most twice a second (a progress view, not a log). */
  private changed(): void {
    if (this.snapshotTimer || this.listeners.size === 0 || this.closed) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      this.tell({ servers: this.snapshot() });
    }, 500);
    this.snapshotTimer.unref();
  }

  private announce(message: string): void {
    this.messages.push(message);
    this.tell({ servers: this.snapshot(), message });
  }

  private tell(status: BackendStatus): void {
    for (const l of this.listeners) {
      try {
        l(status);
      } catch {
        // A listener's failure is not the pool's.
      }
    }
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private waitForChange(signal: AbortSignal | undefined, timeoutMs: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
      this.waiters.push(done);
    });
  }
}

/** Every job on a server listens to its down signal: as many listeners as jobs, not a leak. */
function listenable(controller: AbortController): AbortController {
  setMaxListeners(0, controller.signal);
  return controller;
}

function joinNames(names: string[]): string {
  if (names.length === 1) return names[0]!;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/** host:port of a server URL, the name messages use. */
export function serverName(url: string): string {
  try {
    const u = new URL(url);
    return u.port ? `${u.hostname}:${u.port}` : u.hostname;
  } catch {
    return url;
  }
}
