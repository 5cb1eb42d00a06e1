import type { BindingFoldOptions, BindingThread } from '../../binding'
import { recordFault } from '../faults'
import { native } from '../native'
import type { ResolvedOptions } from '../options'
import { measuredIngest, measuredOn, recordCost } from '../overhead'
import { OWN_CODE_PREFIXES } from '../thread'
import { AGENT_URL, agentSource, parseTitle, type Already, type Ended, type PostedProfile, type SamplingMode } from './agent'
import { COVERAGE_PARAMS, checkCanary } from './coverage'
import type { Requester } from './control'
import type { Injection } from './injection'
import { evaluatedValue, InspectorError, isGone } from './link'
import { announceStalls } from '../stalls/announce'
import { withDeadline } from './wait'

/** One profiling run: from a `start()` to its `stop()`. */
export interface Run {
  options: ResolvedOptions
  /** Discard optimized code at the start (see {@link Target.begin}). */
  deoptimize: boolean
  /** `threads: false`: the only thread profiled. */
  only: number | undefined
  /** Whose run it is: a tool's ignores the application's own start() and stop(). */
  by: Requester
}

/** How the profiler thread reaches one thread's inspector: requests answered as text. */
export interface Channel {
  post(method: string, params?: object): Promise<string>
}

/** What a target asks of the profiler thread around it. */
export interface Host {
  readonly profilerThread: BindingThread
  readonly injection: Injection
  /** The main thread's probe, for what a worker probed early cannot tell. */
  mainProbe(): Promise<Probe>
  /** Called when a target's rotation cost changed: its next rotation is due after `ms`. */
  schedule(target: Target, ms: number): void
  /** Called when a profile of `thread` is folded (or given up), which the thread may wait for. */
  wakeThread(thread: number): void
}

/** What the agent reports about its thread when installed. */
export interface Probe {
  handles: boolean
  handleOptions: boolean
  /**
   * Another tool's session has the Profiler domain (`--cpu-prof`, `NODE_V8_COVERAGE`), or
   * undefined when the thread cannot tell yet: a worker that waits for the debugger is probed
   * before its bootstrap made `process.execArgv` and `process.env`. It inherits both from the
   * thread that made it, so the main thread's answer stands in (see {@link Host.mainProbe}).
   */
  foreignProfiler: boolean | undefined
  foreignCoverage: boolean | undefined
}

/** Installs the agent in thread `thread` and answers what the thread runs with. */
const probeFor = (thread: number): string => `(agent => {
  const v8 = process.getBuiltinModule('v8')
  const known = Array.isArray(process.execArgv) && typeof process.env === 'object'
  const argv = known ? [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\\s+/)] : []
  const coverage = known ? Boolean(process.env.NODE_V8_COVERAGE) || argv.some((arg) => arg.startsWith('--experimental-test-coverage')) : undefined
  return {
    handles: typeof v8.startCpuProfile === 'function',
    handleOptions: typeof v8.startCpuProfile === 'function' && v8.startCpuProfile.length > 0,
    foreignProfiler: known ? coverage || argv.some((arg) => arg.startsWith('--cpu-prof')) : undefined,
    foreignCoverage: coverage,
  }
})(${agentSource(thread)})`

const AGENT = `globalThis[Symbol.for('yappi-node.agent')]`
/** How long a rotation may wait for its profile (serialized, sent, folded) before the next may start. */
const ROTATION_DEADLINE_MS = 30_000
const FINISHED_TITLE = /"title":"([^"\\]*)"\}\}$/

function chooseMode(probe: Probe, options: ResolvedOptions, thread: number): SamplingMode {
  // Node's handles take `sampleInterval` in whole milliseconds (a fraction runs at 1 ms, and the
  // `samplingIntervalMicros` we passed before was ignored: 10 ms sampled at 1 ms on Node 26).
  if (probe.handles && (options.intervalUs === 1000 || (probe.handleOptions && options.intervalUs % 1000 === 0))) return 'handle'
  if (thread === 0 && probe.foreignCoverage) return 'session'
  return probe.foreignProfiler ? 'protocol' : 'console'
}

/**
 * One profiled thread, as the profiler thread drives it: its agent, the profile running in it,
 * and the folding of what arrives from it, in order.
 */
export class Target {
  readonly thread: BindingThread
  readonly #channel: Channel
  readonly #host: Host
  mode: SamplingMode | undefined
  #probe: Probe | undefined
  #run: Run | undefined
  /** The options of the last run: profiles that arrive after its end fold with them. */
  #options: ResolvedOptions | undefined
  /** The profile the thread runs now (its agent's `seq`), and the last one folded or given up. */
  #started = 0
  #folded = 0
  /** Console mode: the CPU clock at the start of each profile, from its title. */
  readonly #cpuAtStart = new Map<number, number>()
  readonly #waiters: { seq: number; resolve: () => void }[] = []
  #rotation: Promise<void> | undefined
  /**
   * The last begin() (whether it began) and end(): each waits for the other, and a rotation
   * for the begin, so that no message of one run lands in the batch of another.
   */
  #beginning: Promise<boolean> = Promise.resolve(false)
  #ending: Promise<void> = Promise.resolve()
  #gone = false
  /**
   * The agent's keeper ran since the last run's end: V8 logged code all along, so optimized
   * code needs no discarding for the next run to name it.
   */
  #kept = false
  /** The current run's start on this thread's clock, and what its rotations cost the thread so far. */
  #runStartedAt = 0
  #rotationMs = 0
  /** The thread is being torn down: it answers requests with errors until it detaches. */
  #dying = false

  constructor(thread: BindingThread, channel: Channel, host: Host) {
    this.thread = thread
    this.#channel = channel
    this.#host = host
  }

  get running(): boolean {
    return this.#run !== undefined
  }

  /** Installs the agent and asks what the thread runs with (once; see {@link Probe}). */
  async probe(): Promise<Probe> {
    const own = (await this.#evaluate(probeFor(this.thread.id))) as Probe
    if (own.foreignProfiler !== undefined) return own
    const main = await this.#host.mainProbe()
    return { ...own, foreignProfiler: main.foreignProfiler, foreignCoverage: main.foreignCoverage }
  }

  /** Runs `expression` in the thread as code of ours: its top-level frame, too, carries the agent's URL. */
  async #evaluate(expression: string): Promise<unknown> {
    return evaluatedValue(await this.#channel.post('Runtime.evaluate', { expression: `${expression}\n//# sourceURL=${AGENT_URL}`, returnByValue: true }))
  }

  /**
   * Starts the thread's profile for `run`. The messages go in one batch: the thread runs them
   * in order, even while it spins (by interrupt). A worker that waits for the debugger is let
   * go last, so its profile starts before its first line.
   *
   * With `deoptimize`, entering and leaving precise coverage first discards all optimized
   * code: V8 ≥ 12 does not name code it optimized on the stack (OSR) before its profiler
   * started, so a loop already hot at `start()` would be charged to its caller for good.
   */
  begin(run: Run, waitingForDebugger: boolean): Promise<void> {
    this.#run = run
    this.#options = run.options
    this.#runStartedAt = performance.now()
    this.#rotationMs = 0
    const beginning = this.#beginNow(run, waitingForDebugger)
    this.#beginning = beginning.then(
      () => true,
      () => false,
    )
    return beginning
  }

  async #beginNow(run: Run, waitingForDebugger: boolean): Promise<void> {
    try {
      await this.#ending
      await this.#beginProfile(run)
    } catch (error) {
      if (this.#run === run) this.#run = undefined
      // Part of the batch may have run: a profile (or coverage) left running in the thread
      // would make every later begin fail ("Cannot change sampling interval when profiling").
      this.#evaluate(`${AGENT}.end()`).catch(() => {})
      if (run.options.counts === 'exact') this.#channel.post('Profiler.stopPreciseCoverage').catch(() => {})
      throw error
    } finally {
      // A worker waiting for us must run on whatever happened to its profile.
      if (waitingForDebugger) await this.#channel.post('Runtime.runIfWaitingForDebugger')
    }
    if (this.#run === run) this.#host.schedule(this, run.options.rotateIntervalMs)
  }

  async #beginProfile(run: Run): Promise<void> {
    const probe = (this.#probe ??= await this.probe())
    const mode = chooseMode(probe, run.options, this.thread.id)
    this.mode = mode
    const steps: Promise<unknown>[] = []
    // The keeper is a handle: it kept Node's CpuProfiler logging, not the inspector's.
    const deoptimize = run.deoptimize && !probe.foreignCoverage && !(this.#kept && mode === 'handle')
    this.#kept = false
    const usesProtocol = mode === 'console' || mode === 'protocol' || run.options.counts === 'exact' || deoptimize
    if (usesProtocol) steps.push(this.#channel.post('Profiler.enable'))
    if (mode === 'console' || mode === 'protocol') steps.push(this.#channel.post('Profiler.setSamplingInterval', { interval: run.options.intervalUs }))
    if (run.options.counts === 'exact') {
      steps.push(this.#channel.post('Profiler.startPreciseCoverage', COVERAGE_PARAMS), this.#evaluate(`${AGENT}.canary()`))
    } else if (deoptimize) {
      steps.push(this.#channel.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false }), this.#channel.post('Profiler.stopPreciseCoverage'))
    }
    const keepAlive = mode === 'handle' && probe.handleOptions && run.options.keepV8Profiler
    const start = JSON.stringify({ mode, intervalUs: run.options.intervalUs, exact: run.options.counts === 'exact', keepAlive })
    const begun = this.#evaluate(`${AGENT}.begin(${start})`)
    if (mode === 'protocol') steps.push(this.#channel.post('Profiler.start'))
    steps.push(
      begun.then((answer) => {
        const [seq, cpuUs] = answer as [number, number]
        this.#started = seq
        this.#folded = Math.max(this.#folded, seq - 1)
        this.#cpuAtStart.set(seq, cpuUs)
      }),
    )
    native.overheadBegin(this.thread)
    await Promise.all(steps)
  }

  /** Ends the running profile and starts the next; resolves once the ended one is folded (or lost). */
  rotate(): Promise<void> {
    if (!this.#run || this.#gone || this.#dying) return Promise.resolve()
    if (this.#rotation) return this.#rotation
    const rotation = this.#rotateNow().catch((error: unknown) => {
      if (!isGone(error)) throw error
      this.#dying = true
    })
    // A rotation whose profile never arrives must not stand in for every later one.
    this.#rotation = withDeadline(rotation, ROTATION_DEADLINE_MS).then((inTime) => {
      this.#rotation = undefined
      if (!inTime) throw new InspectorError(`${this.thread.name} (thread ${this.thread.id}): a rotation's profile did not arrive within ${ROTATION_DEADLINE_MS / 1000} s`)
      return rotation
    })
    return this.#rotation
  }

  async #rotateNow(): Promise<void> {
    await this.#beginning
    const run = this.#run
    if (!run) return
    if (this.#host.injection.failsRotation()) throw new InspectorError('injected: the rotation failed')
    const rotated = this.mode === 'protocol' ? this.#rotateByProtocol(true) : this.#evaluate(`${AGENT}.rotate()`).then((ended) => this.#endedBy(ended as Ended | Already))
    const [seq] = await Promise.all([rotated, run.options.counts === 'exact' ? this.#takeCoverage() : undefined])
    await this.folded(seq)
  }

  /**
   * The profile an evaluated rotation or end ended, or the one that the thread's own rotation
   * (a read that this interrupted) or end (its own stop()) ends or ended.
   */
  #endedBy(ended: Ended | Already): number {
    return Array.isArray(ended) ? this.#ended(ended) : ended.waitFor
  }

  /** Protocol mode: the thread's CPU clock, then `Profiler.stop` (and `Profiler.start` unless ending). */
  async #rotateByProtocol(next: boolean): Promise<number> {
    const seq = this.#started
    const cpuStart = this.#cpuAtStart.get(seq) ?? -1
    const steps: Promise<unknown>[] = [this.#evaluate(`${AGENT}.cpu()`), this.#channel.post('Profiler.stop')]
    if (next) steps.push(this.#channel.post('Profiler.start'))
    const [cpuEnd, stopped] = (await Promise.all(steps)) as [number, string]
    if (next) {
      this.#started = seq + 1
      this.#cpuAtStart.set(seq + 1, cpuEnd)
    }
    this.#fold(seq, () => native.ingestProfileMessage(this.thread, seq, this.#host.injection.corrupt(stopped), this.#foldOptions(cpuStart, cpuEnd)))
    return seq
  }

  /** Ends the thread's profile for good (stop(), or the run ends); resolves once it is folded. */
  end(): Promise<void> {
    const run = this.#run
    if (!run || this.#gone) return Promise.resolve()
    this.#run = undefined
    const ended = this.#endInThread(run)
    // The next begin waits for the thread's answer, not for the fold: a profile that never
    // arrives must not hold up every later run.
    this.#ending = ended.then(
      () => {},
      () => {},
    )
    return ended.then((seq) => (seq === undefined ? undefined : this.folded(seq)))
  }

  /** Sends the end of `run` to the thread; resolves with the profile it ended (undefined: none began). */
  async #endInThread(run: Run): Promise<number | undefined> {
    try {
      if (!(await this.#beginning)) return undefined
      const exact = run.options.counts === 'exact'
      const ended =
        this.mode === 'protocol'
          ? this.#rotateByProtocol(false).then(async (last) => (await this.#evaluate(`${AGENT}.end()`), last))
          : this.#evaluate(`${AGENT}.end()`).then((answer) => this.#endedBy(answer as Ended | Already))
      // In the same batch: whether a keeper now runs, whoever ended the profile.
      const kept = this.#evaluate(`${AGENT}.keeping`).then(
        (keeping) => {
          this.#kept = keeping === true
        },
        () => {
          this.#kept = false
        },
      )
      const counted = exact ? this.#takeCoverage() : undefined
      // In the same batch, right after the last take: a later begin() cannot come between.
      if (exact) this.#channel.post('Profiler.stopPreciseCoverage').catch(() => {})
      const [seq] = await Promise.all([ended, counted, kept])
      return seq
    } finally {
      native.overheadEnd(this.thread.id)
    }
  }

  /** The thread reported the end of profile `seq` and what it cost it; returns `seq`. */
  #ended([seq, , , ms]: Ended): number {
    recordCost('rotation', ms * 1e6, this.thread.id)
    this.#rotated(seq, ms)
    return seq
  }

  /**
   * Profile `seq` ended while the run goes on: the next one runs, and the next rotation is
   * scheduled by its cost. Spaced by this rotation's cost alone, a profile tree that grows makes
   * each rotation dearer than the last and the run overshoots the budget (1.3 % of main's time
   * in the busy-workers run at 1 %): the run's total so far, this one's cost again for the next,
   * must fit the budget over the time since the run began too.
   */
  #rotated(seq: number, ms?: number): void {
    const run = this.#run
    if (!run) return
    this.#started = Math.max(this.#started, seq + 1)
    if (ms === undefined) return
    this.#rotationMs += ms
    const { rotateIntervalMs, maxRotateIntervalMs, rotationBudget } = run.options
    const untilWithinBudget = (this.#rotationMs + ms) / rotationBudget - (performance.now() - this.#runStartedAt)
    this.#host.schedule(this, Math.min(maxRotateIntervalMs, Math.max(rotateIntervalMs, ms / rotationBudget, untilWithinBudget)))
  }

  /** Protocol mode: the worker exits and waits for its last profile to be stopped (see the agent's `handOver`). */
  async exiting(): Promise<void> {
    if (!this.#run || this.mode !== 'protocol') return
    this.#run = undefined
    try {
      await this.#rotateByProtocol(false)
    } finally {
      await this.#evaluate(`${AGENT}.released()`)
    }
  }

  /** Resolves once profile `seq` is folded or given up. */
  folded(seq: number): Promise<void> {
    if (seq <= this.#folded || this.#gone) return Promise.resolve()
    return new Promise((resolve) => this.#waiters.push({ seq, resolve }))
  }

  #markFolded(seq: number): void {
    this.#folded = Math.max(this.#folded, seq)
    this.#host.wakeThread(this.thread.id)
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      if (this.#waiters[i].seq <= this.#folded) this.#waiters.splice(i, 1)[0].resolve()
    }
  }

  #foldOptions(cpuStartUs: number, cpuEndUs: number): BindingFoldOptions {
    const options = this.#options
    const measured = cpuStartUs >= 0 && cpuEndUs >= cpuStartUs
    return {
      showBuiltins: options?.builtins ?? false,
      ownCodePrefixes: OWN_CODE_PREFIXES,
      cpuClock: options?.clock === 'cpu',
      cpuTimeNs: measured ? (cpuEndUs - cpuStartUs) * 1000 : undefined,
    }
  }

  /** Folds profile `seq` on this (the profiler) thread; a failure loses that profile only. */
  #fold(seq: number, ingest: () => { foldNs: number; sourceMapProblems: string[]; stalls: number }): void {
    try {
      const outcome = measuredIngest(this.#host.profilerThread.id, ingest)
      for (const problem of outcome.sourceMapProblems) recordFault('sourcemap', new Error(problem), this.thread.id)
      if (outcome.stalls > 0) announceStalls()
    } catch (error) {
      native.foldSkipped(this.thread.id, seq)
      recordFault('fold', error, this.thread.id)
    } finally {
      this.#markFolded(seq)
    }
  }

  /** A profile the agent posted (handle or session mode): rotated by us, by the thread itself (a read), or its last. */
  received(profile: PostedProfile): void {
    if (!profile.last) this.#rotated(profile.seq)
    const options = this.#foldOptions(profile.cpuStartUs, profile.cpuEndUs)
    const corrupt = (text: string): string => this.#host.injection.corrupt(text)
    this.#fold(profile.seq, () =>
      profile.json !== undefined
        ? native.ingestSerializedProfile('global', this.thread, profile.seq, corrupt(profile.json), options)
        : native.ingestProfileMessage(this.thread, profile.seq, corrupt(JSON.stringify({ result: { profile: profile.profile } })), options),
    )
  }

  /** A console profile event of this thread (console mode), as text. */
  consoleEvent(method: string, message: string): void {
    const title = parseTitle(FINISHED_TITLE.exec(message.slice(-200))?.[1] ?? '')
    if (!title || title.thread !== this.thread.id) return
    if (method === 'Profiler.consoleProfileStarted') {
      this.#cpuAtStart.set(title.seq, title.cpuUs)
      if (!title.terminal) this.#started = Math.max(this.#started, title.seq)
      return
    }
    if (method !== 'Profiler.consoleProfileFinished' || title.terminal) return
    const cpuEnd = this.#cpuAtStart.get(title.seq + 1) ?? -1
    this.#cpuAtStart.delete(title.seq)
    this.#fold(title.seq, () => native.ingestProfileMessage(this.thread, title.seq, this.#host.injection.corrupt(message), this.#foldOptions(title.cpuUs, cpuEnd)))
  }

  /** Takes the thread's precise coverage between two canary calls, all sent at once. */
  async #takeCoverage(): Promise<void> {
    const [, taken, ms] = await Promise.all([this.#evaluate(`${AGENT}.canary()`), this.#channel.post('Profiler.takePreciseCoverage'), this.#evaluate(`${AGENT}.canary()`)])
    recordCost('coverage', (ms as number) * 1e6, this.thread.id)
    const outcome = measuredOn(this.#host.profilerThread.id, 'ingest', () => native.ingestCoverage(this.thread.id, taken as string, OWN_CODE_PREFIXES))
    for (const problem of outcome.sourceMapProblems) recordFault('sourcemap', new Error(problem), this.thread.id)
    checkCanary(this.thread, outcome)
  }

  /**
   * The thread is gone. Its last profile may still be on its way (a worker that ends sends it
   * from its exit listener); after `graceMs` whatever has not arrived is lost, and said so.
   */
  detach(graceMs: number): Promise<void> {
    native.overheadEnd(this.thread.id)
    const run = this.#run
    if (run?.options.counts === 'exact') {
      // Coverage is taken only while the thread runs: its calls since the last take are lost.
      native.coverageDisturbed(this.thread.id)
      recordFault('exact counts', new InspectorError(`${this.thread.name} (thread ${this.thread.id}) exited while counting calls: its calls since the last rotation were not counted, so its counts are estimates`), this.thread.id)
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(judge)
        this.#gone = true
        this.#run = undefined
        resolve()
      }
      const judge = setTimeout(() => {
        // What arrived meanwhile may have said that a later profile started (a rotation the
        // thread answered by posting, just before it died): that one is lost too.
        const lastStarted = this.#started
        if (this.#folded < lastStarted && run) {
          recordFault(
            'thread ended',
            new InspectorError(`${this.thread.name} (thread ${this.thread.id}) ended without sending its last profile (terminated, out of memory, or exited during a rotation): its samples after the last rotation are lost`),
            this.thread.id,
          )
        }
        for (let seq = this.#folded + 1; seq <= lastStarted; seq++) native.foldSkipped(this.thread.id, seq)
        this.#markFolded(lastStarted)
        done()
      }, graceMs)
      const awaitLast = (): void => {
        this.folded(this.#started).then(() => (this.#folded >= this.#started ? done() : awaitLast()), done)
      }
      awaitLast()
    })
  }

}
