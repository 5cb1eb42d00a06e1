import { native } from './native'
import { thisThread } from './thread'
import { COST_CODES } from './wire'

/**
 * What profiling costs the application: time spent in profiler code on each thread, measured at
 * the profiler's boundaries (inspector calls, ingest, reads, message handling) with
 * `process.hrtime.bigint()`, and folding measured inside the engine. The ledger lives in the
 * engine, so any thread reads every thread's account.
 */
/**
 * Where profiler time goes (see README, "Overhead"). On an application thread: `rotation` (V8
 * ending and serializing its profile for us), `coverage` (precise coverage takes), `read` (stats
 * reads it made), `control` (`start()`, `stop()`). On the profiler thread: `fold` and `ingest`.
 */
export type CostKind = 'rotation' | 'coverage' | 'read' | 'control' | 'fold' | 'ingest'

const COSTS: Record<CostKind, number> = COST_CODES

/** Records `ns` of profiler work on a thread; accounting must never fail the work it measures. */
export function recordCost(cost: CostKind, ns: number, threadId = thisThread.id): void {
  try {
    native.overheadRecord(threadId, COSTS[cost], ns)
  } catch {
    // Not accounted: the only loss is one measurement.
  }
}

/** Runs `work`, charging its time to `cost` on this thread. */
export function measured<T>(cost: CostKind, work: () => T): T {
  return measuredOn(thisThread.id, cost, work)
}

/** Runs `work`, charging its time to `cost` on thread `threadId`. */
export function measuredOn<T>(threadId: number, cost: CostKind, work: () => T): T {
  const started = process.hrtime.bigint()
  try {
    return work()
  } finally {
    recordCost(cost, Number(process.hrtime.bigint() - started), threadId)
  }
}

/** Charges an ingest call on thread `threadId`: the engine's folding as `fold`, the rest as `ingest`. */
export function measuredIngest<T extends { foldNs: number }>(threadId: number, work: () => T): T {
  const started = process.hrtime.bigint()
  let foldNs = 0
  try {
    const outcome = work()
    foldNs = outcome.foldNs
    return outcome
  } finally {
    recordCost('fold', foldNs, threadId)
    recordCost('ingest', Math.max(0, Number(process.hrtime.bigint() - started) - foldNs), threadId)
  }
}

/** One thread's cost. Times in seconds. */
export interface ThreadOverhead {
  /** Node's `threadId` (0 = main). */
  threadId: number
  /** The thread's name (a worker's `name` option). */
  name: string
  /** Time spent in profiler code on this thread. */
  profilerTime: number
  /** Time this thread has been profiled (since start(), or since it was attached). */
  runTime: number
  /** `profilerTime / runTime`, in percent. */
  percent: number
  /** `profilerTime` by kind of work. */
  breakdown: Record<CostKind, number>
}

/** The profiler thread's account: all of its time is the profiler's. */
export interface ProfilerThreadOverhead extends ThreadOverhead {
  /** CPU time the profiler thread used since `start()` (undefined where it cannot be read). */
  cpuTime: number | undefined
}

/** The profiler's cost since the last `start()`, per thread and in total (thread-seconds). */
export interface Overhead {
  /** Each profiled thread's account: what the profiler costs the application's threads. */
  threads: ThreadOverhead[]
  /** The profiler thread, which does the rest of the work (folding, parsing, scheduling). */
  profilerThread: ProfilerThreadOverhead | undefined
  /** Time in profiler code on the application's threads, summed. */
  profilerTime: number
  /** Profiled time of the application's threads, summed. */
  runTime: number
  /** `profilerTime / runTime`, in percent. */
  percent: number
}

const percent = (part: number, whole: number): number => (whole > 0 ? (100 * part) / whole : 0)

/** Time spent in profiler code against run time, per profiled thread, since the last `start()`. */
export function getOverhead(): Overhead {
  const kinds = Object.keys(COSTS) as CostKind[]
  const accounts = native.overheadRead().map((thread) => {
    const breakdown = Object.fromEntries(kinds.map((kind) => [kind, (thread.ns[COSTS[kind]] ?? 0) / 1e9])) as Record<CostKind, number>
    const profilerTime = kinds.reduce((sum, kind) => sum + breakdown[kind], 0)
    const runTime = thread.runNs / 1e9
    const account: ThreadOverhead = { threadId: thread.id, name: thread.name, profilerTime, runTime, percent: percent(profilerTime, runTime), breakdown }
    return { account, cpuNs: thread.cpuNs ?? undefined }
  })
  const isProfilerThread = ({ account }: { account: ThreadOverhead }): boolean => account.name === PROFILER_THREAD_NAME
  const threads = accounts.filter((entry) => !isProfilerThread(entry)).map(({ account }) => account)
  threads.sort((a, b) => a.threadId - b.threadId)
  const own = accounts.find(isProfilerThread)
  const profilerThread = own && { ...own.account, cpuTime: own.cpuNs === undefined ? undefined : own.cpuNs / 1e9 }
  const profilerTime = threads.reduce((sum, thread) => sum + thread.profilerTime, 0)
  const runTime = threads.reduce((sum, thread) => sum + thread.runTime, 0)
  return { threads, profilerThread, profilerTime, runTime, percent: percent(profilerTime, runTime) }
}

/** The name of the profiler thread (a worker of yappi-node's own). */
export const PROFILER_THREAD_NAME = 'yappi-node profiler'
