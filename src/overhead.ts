import { native } from './native'
import { decodeThreadStats } from './stats'
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
  /**
   * V8's own sampling cost on this thread, **estimated, not measured**: not part of
   * `profilerTime` or `percent`. See {@link V8SamplingEstimate}.
   */
  v8SamplingEstimate: V8SamplingEstimate
}

/**
 * An estimate of what V8's sampler costs a thread: each sample interrupts the thread with a signal
 * and walks its stack in the handler, work no timer in the profiler's code can see. Computed as
 * the samples V8 took on the thread during its run time (the sample rate of its folded profiles,
 * profiler samples included, times `runTime`) priced at a cost per sample calibrated per Node
 * major version on the reference machine by `benches/sampling-cost.ts` (a loop under 40 frames,
 * thread CPU with the sampler on against off). A machine, a stack depth or a CPU other than the
 * reference's makes the real cost differ: read it as the order of magnitude. The samples include
 * those V8 records at each deoptimization: a loop that Maglev compiled on the stack from its inner
 * loop is deoptimized at every exit of that loop, and such a loop added 80–1200 samples in 400 ms
 * to a 10 ms profile on Node 24 and 26 (`--trace-deopt`: "exit from OSR'd inner loop", about one
 * sample per deoptimization) at no measurable CPU cost. The estimate prices them as full samples,
 * so it is high for such a thread.
 */
export interface V8SamplingEstimate {
  /** Estimated thread time V8's sampling took, seconds. */
  time: number
  /** `time / runTime`, in percent. */
  percent: number
  /** Samples V8 took on the thread in `runTime`, extrapolated from the folded profiles. */
  samples: number
  /** The calibrated cost of one sample used here, seconds. */
  costPerSample: number
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

/**
 * Extra thread CPU per V8 sample, ns, by Node major version: `npm run bench -- --only=sampling-cost`
 * on the reference machine (2-core Xeon VM, shared, load average 11–13), median of 12 pairs at
 * 100 µs sampling, whose spread is a third of the 1 ms one's (the 1 ms medians, 18–28 µs, agree
 * within their noise). A second run at load 8–10 (benches/RESULTS.md) found 15–22 µs: 5–17 %
 * lower, the size of this estimate's uncertainty. Versions not listed use the nearest one below.
 */
const V8_SAMPLE_COST_NS: ReadonlyArray<readonly [major: number, ns: number]> = [
  [20, 23_150],
  [22, 24_340],
  [24, 19_220],
  [26, 18_290],
]

function sampleCostNs(): number {
  const major = Number(process.versions.node.split('.')[0])
  let ns = V8_SAMPLE_COST_NS[0][1]
  for (const [version, cost] of V8_SAMPLE_COST_NS) if (version <= major) ns = cost
  return ns
}

/** Samples per second of wall time V8 took on each thread, from its folded profiles. */
function sampleRates(): Map<number, number> {
  const rates = new Map<number, number>()
  for (const thread of decodeThreadStats(native.threadStats('global')).toArray()) {
    if (thread.wallTime > 0) rates.set(thread.id, (thread.samples + thread.profilerSamples) / thread.wallTime)
  }
  return rates
}

function estimateSampling(rate: number, runTime: number): V8SamplingEstimate {
  const costPerSample = sampleCostNs() / 1e9
  const samples = rate * runTime
  const time = samples * costPerSample
  return { time, percent: percent(time, runTime), samples, costPerSample }
}

/** Time spent in profiler code against run time, per profiled thread, since the last `start()`. */
export function getOverhead(): Overhead {
  const kinds = Object.keys(COSTS) as CostKind[]
  const rates = sampleRates()
  const accounts = native.overheadRead().map((thread) => {
    const breakdown = Object.fromEntries(kinds.map((kind) => [kind, (thread.ns[COSTS[kind]] ?? 0) / 1e9])) as Record<CostKind, number>
    const profilerTime = kinds.reduce((sum, kind) => sum + breakdown[kind], 0)
    const runTime = thread.runNs / 1e9
    const v8SamplingEstimate = estimateSampling(rates.get(thread.id) ?? 0, runTime)
    const account: ThreadOverhead = { threadId: thread.id, name: thread.name, profilerTime, runTime, percent: percent(profilerTime, runTime), breakdown, v8SamplingEstimate }
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
