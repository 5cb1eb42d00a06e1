import { Session } from 'node:inspector'

import type { BindingThread } from '../binding'
import { foldOptions } from './controller'
import { COVERAGE_PARAMS, ingestTake } from './coverage'
import { YappiError } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { measured, measuredIngest, recordCost } from './overhead'
import type { ResolvedOptions } from './options'
import { registerSourceMapsOfMessage } from './sourcemaps'
import { TAGS_KEY, WORKER_STATE_KEY } from './thread'

/**
 * Workers are sampled by the main thread through the NodeWorker domain, with *console*
 * profiles: `console.profile(next); console.profileEnd(current)`, evaluated in the worker,
 * rotates in one step (the new profile keeps V8's profiler alive while the old one ends), and
 * the ended profile comes to main as a `Profiler.consoleProfileFinished` message, which the
 * engine parses. An `exit` listener in the worker ends its last profile the same way, so a
 * worker that finishes keeps all its data.
 *
 * What runs in the worker is plain JavaScript without `require` or timers: Node 20 crashes when
 * a command-line-API evaluation or a libuv call reaches a worker that is being torn down, and a
 * message sent just before `terminate()` is dispatched exactly then.
 *
 * If the worker loaded this package, its tag recorder (`src/tags.ts`) is told at each rotation
 * that profiling runs and hands its tag switches to the engine before the profile ends.
 *
 * A worker's CPU time is read by the engine from the main thread through the worker's Linux
 * thread id (its thread CPU clock). The id comes from the worker itself, once: the first
 * rotation reads the `/proc/thread-self` link (`<pid>/task/<tid>`), through
 * `process.getBuiltinModule`, which needs no command-line API.
 */
const STATE = `globalThis[Symbol.for(${JSON.stringify(WORKER_STATE_KEY)})]`
const TAGS = `globalThis[Symbol.for(${JSON.stringify(TAGS_KEY)})]`

/**
 * Starts `next`, ends `previous` (if any), makes sure the exit listener is there, and answers
 * the worker's Linux thread id (-1 if unknown) and the milliseconds this took the worker.
 */
const ROTATE_IN_WORKER = `(next, previous) => {
  const started = performance.now()
  const state = (${STATE} ??= {})
  console.profile(next)
  ${TAGS}?.rotate()
  if (previous !== null) console.profileEnd(previous)
  state.title = next
  if (!state.hooked && typeof process === 'object' && typeof process.once === 'function') {
    state.hooked = true
    process.once('exit', () => {
      if (!state.title) return
      ${TAGS}?.flush()
      console.profileEnd(state.title)
    })
  }
  if (state.tid === undefined) {
    state.tid = -1
    try {
      const link = process.getBuiltinModule('fs').readlinkSync('/proc/thread-self')
      state.tid = Number(link.slice(link.lastIndexOf('/') + 1)) || -1
    } catch {}
  }
  return [state.tid, performance.now() - started]
}`

/** Ends the last profile; answers the milliseconds this took the worker. */
const STOP_IN_WORKER = `(previous) => {
  const started = performance.now()
  const state = (${STATE} ??= {})
  state.title = null
  ${TAGS}?.stop()
  console.profileEnd(previous)
  return performance.now() - started
}`

/**
 * Calls the worker's coverage canary (see src/coverage.ts), defining it on first use, and
 * answers the milliseconds since the previous call: around a take, what the take cost the worker.
 */
const CANARY_IN_WORKER = `(() => {
  const state = (${STATE} ??= {})
  ;(state.canary ??= function yappiCoverageCanary() {})()
  const now = performance.now()
  const since = now - (state.canaryAt ?? now)
  state.canaryAt = now
  return since
})()`

/** How long a detached worker's last messages are still waited for. */
const LATE_MESSAGES_MS = 250

/** Answers of workers carry the request id first: read it without parsing the rest. */
const RESPONSE_ID = /^\{"id":(\d+),/
const FINISHED_PROFILE = /^\{"method":"Profiler\.consoleProfileFinished"/
const STARTED_PROFILE = /^\{"method":"Profiler\.consoleProfileStarted"/
/** The title is the last field of both events: found at the end of the message, unparsed. */
const FINISHED_TITLE = /"title":"([^"\\]*)"\}\}$/

/** A worker left while a request to it was under way: a normal end, not a fault. */
class WorkerExited extends YappiError {}

interface WorkerInfo {
  workerId: string
  title: string
}

interface EvaluateAnswer {
  result?: { result?: { value?: unknown }; exceptionDetails?: { exception?: { description?: string }; text?: string } }
  error?: { message?: string }
}

/**
 * Node titles a worker `[worker <threadId>] <name>`; the NodeWorker `workerId` is the inspector's
 * own counter, which only happens to match the thread id while no worker has exited.
 */
function threadOf(info: WorkerInfo): BindingThread {
  const [, threadId, name] = /^\[worker (\d+)\] ?(.*)$/.exec(info.title) ?? []
  const id = Number(threadId ?? info.workerId)
  return { id, name: name || `worker ${id}` }
}

/** One worker, sampled from the main thread. */
class RemoteWorker {
  readonly thread: BindingThread
  readonly #hub: WorkerHub
  readonly #sessionId: string
  readonly #pending = new Map<number, (answer: string | Error) => void>()
  #nextId = 1
  #sequence = 0
  /** Title of the console profile running in the worker, or null once stopped. */
  #title: string | null = null
  /** The last profile the worker started (its own event says so), and the last that arrived here. */
  #running: string | null = null
  #arrived: string | null = null
  #ready: Promise<void> = Promise.resolve()
  #gone = false
  /** The worker's Linux thread id, once it told us (-1 before, or where there is none). */
  #tid = -1
  /** The worker's CPU time (ns) when its current profile started, or -1 when unknown. */
  #cpuAtStart = -1
  /** CPU time (ns) of each ended profile whose data has not arrived yet, by title. */
  readonly #cpuOfEnded = new Map<string, number>()

  constructor(hub: WorkerHub, sessionId: string, info: WorkerInfo) {
    this.#hub = hub
    this.#sessionId = sessionId
    this.thread = threadOf(info)
  }

  /** Call once the hub routes this worker's messages: answers may come back synchronously. */
  start(waiting: boolean): void {
    // Nobody may be waiting on this promise yet: its failure is recorded, never unhandled.
    this.#ready = this.#begin(waiting).catch((error) => {
      if (!(error instanceof WorkerExited)) recordFault(`attach worker ${this.thread.id}`, error)
    })
  }

  /**
   * Sent in one go, not one answer after another: the worker runs them in order, even while it
   * spins, but main may be busy and read the answers late. A new worker waits for us, so its
   * profile starts before its first line.
   */
  async #begin(waiting: boolean): Promise<void> {
    const steps: Promise<unknown>[] = [this.#send('Profiler.enable'), this.#send('Profiler.setSamplingInterval', { interval: this.#hub.options.intervalUs })]
    if (this.#exact) steps.push(this.#send('Profiler.startPreciseCoverage', COVERAGE_PARAMS), this.#evaluate(CANARY_IN_WORKER))
    steps.push(this.#rotateInWorker())
    native.overheadBegin(this.thread)
    if (waiting) steps.push(this.#send('Runtime.runIfWaitingForDebugger'))
    await Promise.all(steps)
  }

  get #exact(): boolean {
    return this.#hub.options.counts === 'exact'
  }

  /** Takes the worker's coverage between two canary calls, all sent at once (see #begin). */
  async #takeCoverage(): Promise<void> {
    const [, answer, workerMs] = await Promise.all([this.#evaluate(CANARY_IN_WORKER), this.#send('Profiler.takePreciseCoverage'), this.#evaluate(CANARY_IN_WORKER)])
    this.#chargeWorker(workerMs)
    ingestTake(this.thread, answer)
  }

  #nextTitle(): string {
    return `yappi-node:${this.thread.id}:${++this.#sequence}`
  }

  async #rotateInWorker(): Promise<void> {
    const next = this.#nextTitle()
    const previous = this.#title
    this.#title = next
    this.#endCpu(previous)
    const answer = await this.#evaluate(`(${ROTATE_IN_WORKER})(${JSON.stringify(next)}, ${JSON.stringify(previous)})`)
    const [tid, workerMs] = Array.isArray(answer) ? (answer as unknown[]) : []
    this.#chargeWorker(workerMs)
    if (this.#tid < 0 && typeof tid === 'number' && tid > 0) {
      // Read after the worker answered: its first profile misses the CPU time of that delay.
      this.#tid = tid
      this.#cpuAtStart = this.#readCpu()
    }
  }

  #readCpu(): number {
    return this.#tid > 0 && !this.#gone ? native.threadCpuTimeOf(this.#tid) : -1
  }

  /** Reads the CPU time at the end of profile `title` (read just before the worker ends it). */
  #endCpu(title: string | null): void {
    const now = this.#readCpu()
    if (title !== null && now >= 0 && this.#cpuAtStart >= 0 && now >= this.#cpuAtStart) this.#cpuOfEnded.set(title, now - this.#cpuAtStart)
    this.#cpuAtStart = now
  }

  /**
   * CPU time over profile `title`. A profile the worker ended on exit was not rotated by us:
   * its thread may still be there to read, or else its CPU time is left to the estimate.
   */
  #cpuOf(title: string): number | undefined {
    const ended = this.#cpuOfEnded.get(title)
    this.#cpuOfEnded.delete(title)
    if (ended !== undefined || title !== this.#title) return ended
    const now = this.#readCpu()
    return now >= 0 && this.#cpuAtStart >= 0 && now >= this.#cpuAtStart ? now - this.#cpuAtStart : undefined
  }

  #send(method: string, params: object = {}): Promise<string> {
    if (this.#gone) return Promise.reject(new WorkerExited(`worker ${this.thread.id} has exited`))
    const id = this.#nextId++
    const message = JSON.stringify({ id, method, params })
    return new Promise<string>((resolve, reject) => {
      this.#pending.set(id, (answer) => (answer instanceof Error ? reject(answer) : resolve(answer)))
      this.#hub.post('NodeWorker.sendMessageToWorker', { sessionId: this.#sessionId, message })
    })
  }

  /** Milliseconds of profiler work the worker timed itself: its own overhead. */
  #chargeWorker(workerMs: unknown): void {
    if (typeof workerMs === 'number') recordCost('inspector', workerMs * 1e6, this.thread.id)
  }

  /** Evaluates `expression` in the worker and returns its value (as JSON). */
  async #evaluate(expression: string): Promise<unknown> {
    const answer = JSON.parse(await this.#send('Runtime.evaluate', { expression, returnByValue: true })) as EvaluateAnswer
    const failure = answer.error?.message ?? answer.result?.exceptionDetails?.exception?.description ?? answer.result?.exceptionDetails?.text
    if (failure) throw new YappiError(`in worker ${this.thread.id}: ${failure}`)
    return answer.result?.result?.value
  }

  receive(message: string): void {
    if (FINISHED_PROFILE.test(message)) {
      this.#foldFinished(message)
      return
    }
    if (STARTED_PROFILE.test(message)) {
      const title = FINISHED_TITLE.exec(message.slice(-200))?.[1]
      if (title?.startsWith(`yappi-node:${this.thread.id}:`)) this.#running = title
      return
    }
    measured('hooks', () => {
      const id = RESPONSE_ID.exec(message)?.[1]
      if (id === undefined) return
      const settle = this.#pending.get(Number(id))
      this.#pending.delete(Number(id))
      settle?.(message)
    })
  }

  /** Profiles finish in the worker before the answer to the request that ended them comes. */
  #foldFinished(message: string): void {
    const title = FINISHED_TITLE.exec(message.slice(-200))?.[1]
    if (!title?.startsWith(`yappi-node:${this.thread.id}:`)) return
    this.#arrived = title
    registerSourceMapsOfMessage(message)
    measuredIngest(() => native.ingestProfileMessage('global', this.thread, message, foldOptions(this.#hub.options, undefined, this.#cpuOf(title))))
  }

  /** The worker exited: what it sent stays; pending requests end now instead of never. */
  detach(): void {
    this.#gone = true
    native.overheadEnd(this.thread.id)
    if (this.#exact && this.#title !== null) {
      // Coverage can only be taken while the worker runs: the calls since the last take are
      // not counted, so none of its counts is exact any more.
      native.coverageDisturbed(this.thread.id)
      recordFault(`worker ${this.thread.id}`, new Error(`worker ${this.thread.id} exited while counting calls: its calls since the last rotation were not counted, so its call counts are estimates`))
    }
    for (const settle of this.#pending.values()) settle(new WorkerExited(`worker ${this.thread.id} has exited`))
    this.#pending.clear()
  }

  /**
   * Called a moment after {@link detach}: the inspector may deliver a worker's last messages
   * after the event saying it detached, so its last profile is judged lost only then.
   */
  judgeLastProfile(): void {
    if (this.#running !== null && this.#arrived !== this.#running) {
      // A worker that ends normally sends its last profile from its exit listener; one that was
      // terminate()d cannot.
      recordFault(`worker ${this.thread.id}`, new Error(`worker ${this.thread.id} ended without sending its last profile (terminated?): its samples since the last rotation are lost`))
    }
  }

  /** Folds what the worker sampled so far; sampling goes on. */
  async rotate(): Promise<void> {
    await this.#ready
    if (this.#title === null) return
    await Promise.all([this.#exact ? this.#takeCoverage() : undefined, this.#rotateInWorker()])
  }

  async stop(): Promise<void> {
    await this.#ready
    const previous = this.#title
    this.#title = null
    this.#endCpu(previous)
    const coverage = this.#exact && previous !== null ? this.#takeCoverage() : undefined
    if (previous !== null) this.#chargeWorker(await this.#evaluate(`(${STOP_IN_WORKER})(${JSON.stringify(previous)})`))
    await coverage
    if (this.#exact) this.#send('Profiler.stopPreciseCoverage').catch(() => {})
    this.#send('Profiler.disable').catch(() => {})
  }
}

/**
 * Reaches every worker of the process from the main thread: those alive now (attached while
 * `NodeWorker.enable` runs) and those started later, which wait for us before their first line.
 */
export class WorkerHub {
  readonly options: ResolvedOptions
  readonly #session = new Session()
  readonly #workers = new Map<string, RemoteWorker>()
  /** Detached workers whose last messages may still come. */
  readonly #settling = new Map<() => void, Promise<void>>()

  constructor(options: ResolvedOptions) {
    this.options = options
    this.#session.connect()
    this.#session.on('NodeWorker.attachedToWorker', ({ params }) =>
      this.#guard('attach', () => {
        const worker = new RemoteWorker(this, params.sessionId, params.workerInfo)
        this.#workers.set(params.sessionId, worker)
        worker.start(params.waitingForDebugger)
      }),
    )
    this.#session.on('NodeWorker.detachedFromWorker', ({ params }) =>
      this.#guard('detach', () => {
        const worker = this.#workers.get(params.sessionId)
        if (!worker) return
        worker.detach()
        // Late messages (the last profile among them) still reach the worker for a moment;
        // rotations wait for that, so a snapshot after a worker's end sees its fate. stop()
        // judges at once: its session must not linger, attaching workers a next start() owns.
        let judge = (): void => {}
        const settled = new Promise<void>((resolve) => {
          const timer = setTimeout(() => judge(), LATE_MESSAGES_MS)
          judge = () => {
            clearTimeout(timer)
            this.#workers.delete(params.sessionId)
            this.#settling.delete(judge)
            this.#guard('detach', () => worker.judgeLastProfile())
            resolve()
          }
        })
        this.#settling.set(judge, settled)
      }),
    )
    this.#session.on('NodeWorker.receivedMessageFromWorker', ({ params }) =>
      this.#guard('receive', () => this.#workers.get(params.sessionId)?.receive(params.message)),
    )
    this.post('NodeWorker.enable', { waitForDebuggerOnStart: true })
  }

  /** Listener bodies run inside the inspector's dispatch: nothing may escape them. */
  #guard(where: string, body: () => void): void {
    try {
      body()
    } catch (error) {
      recordFault(`workers.${where}`, error)
    }
  }

  post(method: string, params: object): void {
    this.#session.post(method, params, (error) => {
      if (error) recordFault(method, error)
    })
  }

  /** Runs `action` on every worker; a worker that fails or exits is recorded, never thrown. */
  #each(where: string, action: (worker: RemoteWorker) => Promise<void>): Promise<void> {
    const all = [...this.#workers.values()].map((worker) =>
      action(worker).catch((error) => {
        if (!(error instanceof WorkerExited)) recordFault(`${where} worker ${worker.thread.id}`, error)
      }),
    )
    return Promise.all(all).then(() => {})
  }

  /** Folds every worker; a worker that just ended is waited for until its fate is known. */
  rotateAll(): Promise<void> {
    return this.#each('rotate', (worker) => worker.rotate()).then(async () => {
      await Promise.all([...this.#settling.values()])
    })
  }

  /** Stops every worker's profiler; resolves when their last profiles are folded. */
  stop(): Promise<void> {
    return this.#each('stop', (worker) => worker.stop()).finally(() => {
      for (const judge of [...this.#settling.keys()]) judge()
      try {
        this.#session.post('NodeWorker.disable')
        this.#session.disconnect()
      } catch (error) {
        recordFault('workers.stop', error)
      }
    })
  }
}
