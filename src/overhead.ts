import { native } from './native'
import { thisThread } from './thread'

/**
 * What profiling costs the application: time spent in profiler code on each thread, measured at
 * the profiler's boundaries (inspector calls, ingest, reads, message handling) with
 * `process.hrtime.bigint()`, and folding measured inside the engine. The ledger lives in the
 * engine, so any thread reads every thread's account.
 */
/**
 * Where profiler time goes (see README, "Overhead"): inspector calls, folding in the engine,
 * the rest of handing profiles over, stats reads, and tag hooks.
 */
export type CostKind = 'inspector' | 'fold' | 'ingest' | 'read' | 'hooks'

const COSTS: Record<CostKind, number> = { inspector: 0, fold: 1, ingest: 2, read: 3, hooks: 4 }

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
  const started = process.hrtime.bigint()
  try {
    return work()
  } finally {
    recordCost(cost, Number(process.hrtime.bigint() - started))
  }
}

/** Charges an ingest call: the engine's folding as `fold`, the rest of the call as `ingest`. */
export function measuredIngest<T extends { foldNs: number }>(work: () => T): T {
  const started = process.hrtime.bigint()
  let foldNs = 0
  try {
    const outcome = work()
    foldNs = outcome.foldNs
    return outcome
  } finally {
    const total = Number(process.hrtime.bigint() - started)
    recordCost('fold', foldNs)
    recordCost('ingest', Math.max(0, total - foldNs))
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

/** The profiler's cost since the last `start()`, per thread and in total (thread-seconds). */
export interface Overhead {
  /** Each profiled thread's account. */
  threads: ThreadOverhead[]
  /** Time in profiler code, summed over threads. */
  profilerTime: number
  /** Profiled time, summed over threads. */
  runTime: number
  /** `profilerTime / runTime`, in percent. */
  percent: number
}

const percent = (part: number, whole: number): number => (whole > 0 ? (100 * part) / whole : 0)

/** Time spent in profiler code against run time, per profiled thread, since the last `start()`. */
export function getOverhead(): Overhead {
  const kinds = Object.keys(COSTS) as CostKind[]
  const threads = native.overheadRead().map((thread): ThreadOverhead => {
    const breakdown = Object.fromEntries(kinds.map((kind) => [kind, (thread.ns[COSTS[kind]] ?? 0) / 1e9])) as Record<CostKind, number>
    const profilerTime = kinds.reduce((sum, kind) => sum + breakdown[kind], 0)
    const runTime = thread.runNs / 1e9
    return { threadId: thread.id, name: thread.name, profilerTime, runTime, percent: percent(profilerTime, runTime), breakdown }
  })
  threads.sort((a, b) => a.threadId - b.threadId)
  const profilerTime = threads.reduce((sum, thread) => sum + thread.profilerTime, 0)
  const runTime = threads.reduce((sum, thread) => sum + thread.runTime, 0)
  return { threads, profilerTime, runTime, percent: percent(profilerTime, runTime) }
}
