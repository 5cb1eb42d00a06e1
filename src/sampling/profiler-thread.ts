// The profiler thread: a worker of yappi-node's own that drives every thread's sampler and folds
// every profile, so that the application's threads pay for V8's sampling and nothing else.
import { threadId } from 'node:worker_threads'

import type { BindingThread } from '../../binding'
import { YappiError } from '../errors'
import { recordFault } from '../faults'
import { PROFILER_THREAD_NAME } from '../overhead'
import { native } from '../native'
import type { ResolvedOptions } from '../options'
import { decodeThreadStats } from '../stats'
import { PROFILES_CHANNEL, type Exiting, type PostedProfile } from './agent'
import { CONTROL_CHANNEL, type Answer, type Command, type Requester } from './control'
import { injectionFrom } from './injection'
import { InspectorError, isGone, MainLink, WORKER_EXITED } from './link'
import { Target, type Channel, type Host, type Probe, type Run } from './target'
import { wake, withDeadline } from './wait'

/** A worker's last messages (its last profile among them) may come after it detached. */
const LATE_MESSAGES_MS = 250
/** How long `stop()` waits for the last profile of the thread that called it. */
const STOP_DEADLINE_MS = 2000
/** How long `start()` waits for the calling thread's profile to begin. */
const START_DEADLINE_MS = 5000

const RESPONSE_ID = /^\{"id":(\d+),/
const EVENT_METHOD = /^\{"method":"([^"]+)"/

/** This thread's CPU time in ns (the engine reads the thread's clock). */
function ownCpuNs(): number {
  return native.threadCpuTimeNs() ?? 0
}

/** Node titles a worker `[worker <threadId>] <name>`. */
function threadOf(info: { workerId: string; title: string }): BindingThread {
  const [, id, name] = /^\[worker (\d+)\] ?(.*)$/.exec(info.title) ?? []
  const thread = Number(id ?? info.workerId)
  // Node ≥ 22 names a worker without a `name` option "WorkerThread": the id says more.
  return { id: thread, name: name && name !== 'WorkerThread' ? name : `worker ${thread}` }
}


/** A worker reached through the main thread's `NodeWorker` domain. */
class WorkerChannel implements Channel {
  readonly #link: MainLink
  readonly sessionId: string
  readonly #pending = new Map<number, { resolve: (answer: string) => void; reject: (error: Error) => void }>()
  #nextId = 1
  #gone = false

  constructor(link: MainLink, sessionId: string) {
    this.#link = link
    this.sessionId = sessionId
  }

  post(method: string, params: object = {}): Promise<string> {
    if (this.#gone) return Promise.reject(new InspectorError(WORKER_EXITED))
    const id = this.#nextId++
    return new Promise<string>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#link.post('NodeWorker.sendMessageToWorker', { sessionId: this.sessionId, message: JSON.stringify({ id, method, params }) }).catch((error) => {
        this.#pending.delete(id)
        reject(error)
      })
    })
  }

  /** An answer of the worker's; false for an event. */
  answered(message: string): boolean {
    const id = RESPONSE_ID.exec(message)?.[1]
    if (id === undefined) return false
    const waiter = this.#pending.get(Number(id))
    this.#pending.delete(Number(id))
    const failure = /^\{"id":\d+,"error":\{"code":-?\d+,"message":"((?:[^"\\]|\\.)*)"/.exec(message)?.[1]
    if (failure !== undefined) waiter?.reject(new InspectorError(JSON.parse(`"${failure}"`) as string))
    else waiter?.resolve(message)
    return true
  }

  close(): void {
    this.#gone = true
    for (const waiter of this.#pending.values()) waiter.reject(new InspectorError(WORKER_EXITED))
    this.#pending.clear()
  }
}

class Hub implements Host {
  readonly profilerThread: BindingThread = { id: threadId, name: PROFILER_THREAD_NAME }
  readonly injection = injectionFrom(process.env.YAPPI_NODE_INJECT_FAULTS)
  #mainProbe: Promise<Probe> | undefined

  mainProbe(): Promise<Probe> {
    this.#mainProbe ??= this.#main.probe()
    return this.#mainProbe
  }
  readonly #link: MainLink
  readonly #main: Target
  readonly #targets = new Map<number, Target>([])
  readonly #workers = new Map<string, { channel: WorkerChannel; target: Target }>()
  readonly #timers = new Map<Target, NodeJS.Timeout>()
  /** Threads whose `start()` waits until their own profile begins. */
  readonly #beginWaiters = new Map<number, () => void>()
  readonly #control = new BroadcastChannel(CONTROL_CHANNEL)
  readonly #profiles = new BroadcastChannel(PROFILES_CHANNEL)
  #run: Run | undefined
  /** The last run's threads ending, and threads gone whose last profiles may still come. */
  #ending: Promise<unknown> = Promise.resolve()
  readonly #leaving = new Set<Promise<void>>()
  /** The wake cell of each thread that sent one: its waits end when we answer or fold for it. */
  readonly #wakeCells = new Map<number, Int32Array>()

  constructor() {
    this.#link = new MainLink((method, message) => this.#guard('event', () => this.#event(method, message)))
    this.#main = new Target({ id: 0, name: 'main' }, this.#link, this)
    this.#targets.set(0, this.#main)
    this.#control.onmessage = (event: MessageEvent) => this.#guard('control', () => this.#command(event.data as Command))
    this.#profiles.onmessage = (event: MessageEvent) => this.#guard('profiles', () => this.#posted(event.data as PostedProfile))
  }

  #cpuAtStart = 0

  /** Every event the profiler thread handles: contained, and its CPU time published after. */
  #guard(where: string, body: () => void): void {
    try {
      body()
    } catch (error) {
      recordFault(where, error)
    } finally {
      if (this.#run) native.overheadRecordCpu(this.profilerThread.id, ownCpuNs() - this.#cpuAtStart)
    }
  }

  schedule(target: Target, ms: number): void {
    clearTimeout(this.#timers.get(target))
    if (!target.running) return
    this.#timers.set(
      target,
      setTimeout(() => {
        this.#timers.delete(target)
        target.rotate().catch((error) => {
          if (isGone(error)) return
          recordFault('rotate', error, target.thread.id)
          // One failed rotation loses one rotation: the next is due as usual.
          if (this.#run) this.schedule(target, this.#run.options.rotateIntervalMs)
        })
      }, ms),
    )
  }

  #event(method: string, message: string): void {
    if (method.startsWith('Profiler.consoleProfile')) return this.#main.consoleEvent(method, message)
    if (method === 'NodeWorker.receivedMessageFromWorker') return this.#fromWorker(message)
    if (method === 'NodeWorker.attachedToWorker') return this.#attached(JSON.parse(message).params)
    if (method === 'NodeWorker.detachedFromWorker') return this.#detached(JSON.parse(message).params.sessionId)
  }

  #fromWorker(envelope: string): void {
    const { sessionId, message } = (JSON.parse(envelope) as { params: { sessionId: string; message: string } }).params
    const worker = this.#workers.get(sessionId)
    if (!worker || worker.channel.answered(message)) return
    const method = EVENT_METHOD.exec(message)?.[1]
    if (method?.startsWith('Profiler.consoleProfile')) worker.target.consoleEvent(method, message)
  }

  #attached(params: { sessionId: string; waitingForDebugger: boolean; workerInfo: { workerId: string; title: string } }): void {
    const thread = threadOf(params.workerInfo)
    const channel = new WorkerChannel(this.#link, params.sessionId)
    if (thread.id === threadId) {
      // Ourselves: never profiled, never listed.
      channel.post('Runtime.runIfWaitingForDebugger').catch(() => {})
      return
    }
    const target = new Target(thread, channel, this)
    this.#workers.set(params.sessionId, { channel, target })
    this.#targets.set(thread.id, target)
    const run = this.#run
    if (run && (run.only === undefined || run.only === thread.id)) void this.#begin(target, run, params.waitingForDebugger)
    // Let go even when Node says the worker does not wait: a worker reported again after a
    // re-enable is said not to wait, whatever it does.
    else channel.post('Runtime.runIfWaitingForDebugger').catch(() => {})
  }

  #begin(target: Target, run: Run, waiting: boolean): Promise<void> {
    return target.begin(run, waiting).then(
      () => this.#beginWaiters.get(target.thread.id)?.(),
      (error) => {
        if (!isGone(error)) recordFault('start', error, target.thread.id)
        this.#beginWaiters.get(target.thread.id)?.()
      },
    )
  }

  #detached(sessionId: string): void {
    const worker = this.#workers.get(sessionId)
    if (!worker) return
    this.#workers.delete(sessionId)
    worker.channel.close()
    clearTimeout(this.#timers.get(worker.target))
    const leaving = worker.target.detach(LATE_MESSAGES_MS).finally(() => {
      this.#leaving.delete(leaving)
      if (this.#targets.get(worker.target.thread.id) === worker.target) this.#targets.delete(worker.target.thread.id)
      this.#wakeCells.delete(worker.target.thread.id)
    })
    this.#leaving.add(leaving)
  }

  #posted(message: PostedProfile | Exiting): void {
    const target = this.#targets.get(message.thread)
    if ('exiting' in message) target?.exiting().catch((error) => isGone(error) || recordFault('stop', error, message.thread))
    else target?.received(message)
  }

  #answer(ticket: number, answer: Answer): void {
    native.mailboxAnswer(ticket, JSON.stringify(answer))
  }

  /** Ends the slice that thread `thread` may be waiting in (its wake cell, see wait.ts). */
  wakeThread(thread: number): void {
    const cell = this.#wakeCells.get(thread)
    if (cell) wake(cell)
  }

  #command(command: Command): void {
    if (command.op === 'wake') {
      this.#wakeCells.set(command.from, command.cell)
      return
    }
    const reply = (work: Promise<unknown>): void => {
      work
        .then(
          (value) => this.#answer(command.ticket, { ok: true, value }),
          (error: Error) => this.#answer(command.ticket, { ok: false, error: error.message }),
        )
        .finally(() => this.wakeThread(command.from))
    }
    if (command.op === 'start') reply(this.#start(command.from, command.options, command.by))
    else if (command.op === 'stop') reply(this.#stop(command.from, command.by))
    else if (command.op === 'rotate') reply(this.#rotate(command.threads, command.deadlineMs, command.maxAgeMs))
    else if (command.op === 'settle') reply(this.#settle(command.deadlineMs))
    else if (command.op === 'detach') reply(Promise.resolve(this.#detach()))
    else if (command.op === 'encode') reply(Promise.resolve().then(() => native.parcelFuncStats(command.ticket, command.threads, command.tag)))
  }

  async #start(from: number, options: ResolvedOptions, by: Requester): Promise<void> {
    if (this.#run?.by === 'tool' && by === 'application') {
      recordFault('start', new YappiError('start() joined the run of the yappi-node tool that profiles this process (its options stand); stop() will leave it running'), from)
      return
    }
    native.begin(options.clock, options.maxMemoryBytes, from, options.threads, options.counts === 'exact')
    native.watchStalls(options.stallThresholdMs, options.maxStalls)
    native.overheadReset()
    native.overheadBegin(this.profilerThread)
    this.#cpuAtStart = ownCpuNs()
    const run: Run = { options, deoptimize: options.deoptimize, only: options.threads ? undefined : from, by }
    this.#run = run
    const begun = new Promise<void>((resolve) => this.#beginWaiters.set(from, resolve))
    // Workers attached by an earlier run begin now; the others begin as they are attached.
    // start() returns once these have begun too, so that code any thread runs after it is
    // profiled (a begin runs by interrupt, so a busy thread holds it up little).
    const known: Promise<void>[] = []
    for (const target of [this.#main, ...[...this.#workers.values()].map((worker) => worker.target)]) {
      if (run.only === undefined || run.only === target.thread.id) known.push(this.#begin(target, run, false))
    }
    // Awaited with the begins: a worker the application creates once start() has returned must
    // wait for its profile. Were the enable still on its way to the main thread, the worker
    // would be reported as already running, and what it ran first lost.
    const enabling = (waitForDebuggerOnStart: boolean): Promise<void> =>
      this.#link.post('NodeWorker.enable', { waitForDebuggerOnStart }).then(
        () => undefined,
        (error) => recordFault('start', error),
      )
    if (options.threads) known.push(enabling(true))
    // threads: false in a worker: that worker alone, reached like the others.
    else if (from !== 0) known.push(enabling(false))
    let selfBegun = false
    const started = await withDeadline(Promise.all([begun.then(() => (selfBegun = true)), ...known]), START_DEADLINE_MS)
    this.#beginWaiters.delete(from)
    if (!selfBegun) recordFault('start', new InspectorError(`thread ${from} did not begin its profile within ${START_DEADLINE_MS} ms`), from)
    else if (!started) recordFault('start', new InspectorError(`some threads did not begin their profiles within ${START_DEADLINE_MS} ms of start(): they are profiled once they do`), from)
  }

  async #stop(from: number, by: Requester): Promise<boolean> {
    const run = this.#run
    if (!run) return false
    if (run.by === 'tool' && by === 'application') {
      recordFault('stop', new YappiError('stop() left the run of the yappi-node tool that profiles this process running'), from)
      return false
    }
    this.#run = undefined
    native.end()
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    const endings = [...this.#targets.values()].map((target) => ({
      target,
      // A worker that exits meanwhile ends its profile itself: not a fault.
      ended: target.end().catch((error) => isGone(error) || recordFault('stop', error, target.thread.id)),
    }))
    // Workers stay attached, and new ones are still attached but no longer wait. NodeWorker is
    // never disabled: a worker created while it waited on start tells the main thread only once
    // its own thread has booted, and one that tells nobody waits for a debugger forever.
    if (run.options.threads || run.only !== 0) this.#link.post('NodeWorker.enable', { waitForDebuggerOnStart: false }).catch(() => {})
    const all = Promise.all(endings.map(({ ended }) => ended)).finally(() => native.overheadEnd(undefined))
    this.#ending = all
    const own = endings.find(({ target }) => target.thread.id === from)?.ended ?? Promise.resolve()
    await withDeadline(own, STOP_DEADLINE_MS)
    return true
  }

  /**
   * Rotates the given threads (all running ones when null), but those whose folded data is at
   * most `maxAgeMs` old; answers the ids not folded in time.
   */
  async #rotate(threads: number[] | null, deadlineMs: number, maxAgeMs: number): Promise<number[]> {
    const targets = threads === null ? [...this.#targets.values()] : threads.map((id) => this.#targets.get(id)).filter((target) => target !== undefined)
    const recent = maxAgeMs > 0 ? new Set([...decodeThreadStats(native.threadStats('global'))].filter((thread) => thread.age * 1000 <= maxAgeMs).map((thread) => thread.id)) : new Set<number>()
    const late: number[] = []
    await Promise.all(
      targets
        .filter((target) => target.running && !recent.has(target.thread.id))
        .map(async (target) => {
          const rotation = target.rotate().catch((error) => isGone(error) || recordFault('rotate', error, target.thread.id))
          if (!(await withDeadline(rotation, deadlineMs))) late.push(target.thread.id)
        }),
    )
    if (threads === null) await withDeadline(Promise.all([...this.#leaving]), deadlineMs)
    return late
  }

  /** The process exits: close the session to the main thread (see control.ts, detachFromMainThread). */
  #detach(): void {
    this.#run = undefined
    native.setProfilerThread(null)
    this.#link.close()
  }

  /** Waits for the last run's last profiles and for the threads that just ended. */
  async #settle(deadlineMs: number): Promise<boolean> {
    return withDeadline(Promise.all([this.#ending, ...this.#leaving]), deadlineMs)
  }
}

// Nothing of ours may reach the application's output: a warning Node would print here is
// dropped, and whatever escaped the handlers above is a fault, never the end of this thread.
process.noDeprecation = true
process.stdout.write = () => true
process.stderr.write = () => true
process.on('uncaughtException', (error) => recordFault('profiler thread', error))
process.on('unhandledRejection', (error) => recordFault('profiler thread', error))

try {
  new Hub()
  native.setProfilerThread(threadId)
} catch (error) {
  recordFault('profiler thread', error)
}
