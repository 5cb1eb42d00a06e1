/**
 * Engine speed and memory, in a process of its own: fold throughput, snapshot latency,
 * rotation cost, memory per function and edge; or (`longrun`) memory over many rotations.
 * argv: 'engine' | 'longrun', size, path of a real `.cpuprofile` (or '-').
 * Sends one `EngineResults` or `LongRunResult` over IPC.
 */
import * as fs from 'node:fs'
import { Session } from 'node:inspector'

import * as yappi from '../index'
import type { BindingFoldOptions, BindingThread } from '../binding'
import { flatten } from '../src/flatten'
import { AGENT_KEY, type Agent } from '../src/sampling/agent'
import { native } from '../src/native'
import { decodeFuncStats } from '../src/stats'
import { median, msSince, percentile, timeEach, timeMs } from './measure'

/** Wall and calling-thread CPU time of each call, ms. CPU time is what a busy shared machine leaves undisturbed. */
interface Timings {
  wall: number[]
  cpu: number[]
}

/** Times `fn` `reps` times on both clocks; `before`, untimed, runs ahead of each. */
function timeBoth(reps: number, fn: () => void, before?: () => void): Timings {
  const timings: Timings = { wall: [], cpu: [] }
  for (let rep = 0; rep < reps; rep++) {
    before?.()
    const cpuStart = (native.threadCpuTimeNs() ?? NaN)
    timings.wall.push(timeMs(fn))
    timings.cpu.push(((native.threadCpuTimeNs() ?? NaN) - cpuStart) / 1e6)
  }
  return timings
}
import { functionChains, syntheticProfile } from './synthetic'
import { workloadNamed, type Size } from './workloads'

export interface FoldResult {
  what: string
  nodes: number
  samples: number
  /** Median ms of the host-side preparation (flatten of the inspector object), if any. */
  flattenMs?: number
  /** Median ms of the engine ingest (copy in, parse frames, fold, publish), wall and thread CPU. */
  foldMs: number
  foldCpuMs: number
  /** Samples per second of thread CPU time. */
  samplesPerSec: number
}

export interface SnapshotResult {
  functions: number
  medianMs: number
  p95Ms: number
  cpuMedianMs: number
  /** Parts of one read, medians: the engine merging and encoding the stats, and JS decoding them. */
  encodeMs: number
  decodeMs: number
  /** `await snapshot()` on the calling thread's CPU clock, median: the merge and encode run on the profiler thread. */
  snapshotCpuMs: number
}

export interface RotationResult {
  functionsCompiled: number
  keepAliveMedianMs: number
  keepAliveP95Ms: number
  keepAliveCpuMedianMs: number
  /** Plain Profiler.stop + start (no keep-alive), for comparison: V8 re-logs all code. */
  plainMedianMs: number
}

/** One rotation of a real application's profile, in its two parts (medians, ms). */
export interface RealRotationResult {
  what: string
  samples: number
  /** On the profiled thread: V8 ends and serializes its profile. */
  rotateMs: number
  /** On the profiler thread: parsing and folding it. */
  foldMs: number
}

export interface MemoryResult {
  usedBytes: number
  functions: number
  edges: number
}

export interface LongRunResult {
  rotations: number
  functions: number
  /** Bytes used by the stats every tenth of the run: flat when nothing leaks. */
  checkpoints: { rotation: number; usedBytes: number; rssBytes: number; functions: number; edges: number }[]
}

/** What stall detection adds to a fold: thread CPU ms with it off and on, and the median of paired ratios. */
export interface StallCostResult {
  samples: number
  offCpuMs: number
  onCpuMs: number
  ratio: number
}

export interface EngineResults {
  folds: FoldResult[]
  stalls: StallCostResult
  snapshots: SnapshotResult[]
  rotation: RotationResult
  realRotations: RealRotationResult[]
  memory: MemoryResult
}

const THREAD: BindingThread = { id: 9999, name: 'bench' }
const THIS_THREAD = 0
const FOLD_OPTIONS: BindingFoldOptions = { showBuiltins: false, ownCodePrefixes: [], cpuClock: false }

/** `PARSE_BYTES_PER_INPUT_BYTE` of the engine's cpuprofile parser. */
const PARSE_BYTES_PER_INPUT_BYTE = 20

/** Folds into `profile(fn)`'s engine (by default) so the global engine's memory figures stay clean. */
function ingestTimes(reps: number, ingest: () => void, scope = 'profile'): Timings {
  const forget = () => native.forgetThread(scope, THREAD.id)
  forget()
  ingest() // first: interns every function; the rest measure steady-state rotations
  // Forgotten before each: the thread's last profile end is forgotten with it, and a profile
  // folded again after its own end would skip every sample as already counted.
  return timeBoth(reps, ingest, forget)
}

function foldResult(what: string, nodes: number, samples: number, times: Timings, flattenMs?: number): FoldResult {
  const foldCpuMs = median(times.cpu)
  return { what, nodes, samples, flattenMs, foldMs: median(times.wall), foldCpuMs, samplesPerSec: samples / (foldCpuMs / 1000) }
}

function foldSynthetic(size: Size): FoldResult {
  const nodes = 10_000
  const samples = 1_000_000
  const profile = syntheticProfile(nodes, samples, 2_000)
  const times = ingestTimes(size === 'quick' ? 5 : 15, () => native.ingestFlat('profile', THREAD, profile, FOLD_OPTIONS))
  return foldResult('synthetic: 10k-node tree, 2k functions, 1M samples', nodes, samples, times)
}

/**
 * The synthetic profile folded into the process engine with stall detection off and on,
 * alternately. It has no idle sample, so with detection on every sample belongs to one open
 * stall and is charged to its tree: detection's worst case. The thread is forgotten before each
 * fold, so every fold sees all samples (a repeated profile's samples would count as seen).
 */
function stallDetectionCost(size: Size): StallCostResult {
  const samples = 1_000_000
  const profile = syntheticProfile(10_000, samples, 2_000)
  const thread: BindingThread = { id: 9998, name: 'bench stalls' }
  const fold = (thresholdMs: number): number => {
    native.watchStalls(thresholdMs, 100)
    native.forgetThread('global', thread.id)
    return timeBoth(1, () => native.ingestFlat('global', thread, profile, FOLD_OPTIONS)).cpu[0]
  }
  fold(0)
  fold(1)
  const off: number[] = []
  const on: number[] = []
  const ratios: number[] = []
  for (let rep = 0; rep < (size === 'quick' ? 7 : 21); rep++) {
    off.push(fold(0))
    on.push(fold(1))
    ratios.push(on[on.length - 1] / off[off.length - 1])
  }
  native.watchStalls(0, 0)
  native.forgetThread('global', thread.id)
  return { samples, offCpuMs: median(off), onCpuMs: median(on), ratio: median(ratios) }
}

function foldReal(size: Size, file: string): FoldResult[] {
  const json = fs.readFileSync(file, 'utf8')
  const parsed = JSON.parse(json)
  const samples: number = parsed.samples.length
  const nodes: number = parsed.nodes.length
  const reps = size === 'quick' ? 5 : 15
  const flattenMs = median(timeEach(reps, () => flatten(parsed)))
  const flat = flatten(parsed)
  const folds = ingestTimes(reps, () => native.ingestFlat('profile', THREAD, flat, FOLD_OPTIONS))
  // The JSON parse is charged up front at its bound (20 bytes per input byte), which a tsc profile
  // of this machine (15 MB) takes past the profile scope's 256 MiB: folded in a session sized for it.
  native.begin('wall', json.length * PARSE_BYTES_PER_INPUT_BYTE * 2, THREAD.id, false, false)
  const fromJson = ingestTimes(reps, () => native.ingestCpuprofile('global', THREAD, json, FOLD_OPTIONS), 'global')
  native.end()
  native.clearStats()
  const what = `tsc --cpu-prof (${(json.length / 1e6).toFixed(1)} MB JSON)`
  return [
    foldResult(`${what}: flatten + ingestFlat`, nodes, samples, folds, flattenMs),
    foldResult(`${what}: ingestCpuprofile (JSON parsed in Rust)`, nodes, samples, fromJson),
  ]
}

function runAll(heads: (() => void)[]): void {
  for (const head of heads) head()
}

async function snapshotLatency(reps: number): Promise<SnapshotResult> {
  let functions = 0
  const times = timeBoth(reps, () => (functions = yappi.getFuncStats().toArray().length))
  let encoded = native.funcStats('global')
  const encodeMs = median(timeEach(reps, () => (encoded = native.funcStats('global'))))
  const decodeMs = median(timeEach(reps, () => decodeFuncStats(encoded, undefined, { scope: 'global' })))
  const snapshotCpu: number[] = []
  for (let rep = 0; rep < reps; rep++) {
    const cpuStart = native.threadCpuTimeNs() ?? NaN
    await yappi.snapshot()
    snapshotCpu.push(((native.threadCpuTimeNs() ?? NaN) - cpuStart) / 1e6)
  }
  return { functions, medianMs: median(times.wall), p95Ms: percentile(times.wall, 0.95), cpuMedianMs: median(times.cpu), encodeMs, decodeMs, snapshotCpuMs: median(snapshotCpu) }
}

/**
 * Rotation of the calling thread with every chain compiled: the thread ending its own profile
 * and starting the next (the agent's rotate, as a fresh read runs it), timed around that call
 * on the thread's CPU clock and by the wall time the agent reports for it; a read after each
 * lets the profiler thread fold the profile. Plain Profiler.stop + start for comparison.
 */
function rotationCost(size: Size, functionsCompiled: number, heads: (() => void)[]): RotationResult {
  yappi.start({ threads: false, rotateIntervalMs: 3_600_000, maxRotateIntervalMs: 3_600_000 })
  const agent = (globalThis as unknown as Record<symbol, Agent | undefined>)[Symbol.for(AGENT_KEY)]
  if (!agent) throw new Error('start() installed no agent on this thread')
  const reps = size === 'quick' ? 30 : 100
  const keepAlive: Timings = { wall: [], cpu: [] }
  for (let i = 0; i < reps; i++) {
    heads[i % heads.length]()
    const cpuStart = native.threadCpuTimeNs() ?? NaN
    const ended = agent.rotate()
    const cpuNs = (native.threadCpuTimeNs() ?? NaN) - cpuStart
    if (Array.isArray(ended)) {
      keepAlive.cpu.push(cpuNs / 1e6)
      keepAlive.wall.push(ended[3])
    }
    yappi.getFuncStats()
  }
  yappi.stop()
  const session = new Session()
  session.connect()
  const post = (method: string) => session.post(method as 'Profiler.enable')
  post('Profiler.enable')
  post('Profiler.start')
  const plain: number[] = []
  for (let i = 0; i < (size === 'quick' ? 5 : 15); i++) {
    heads[i % heads.length]()
    plain.push(
      timeMs(() => {
        post('Profiler.stop')
        post('Profiler.start')
      }),
    )
  }
  post('Profiler.stop')
  session.disconnect()
  return {
    functionsCompiled,
    keepAliveMedianMs: median(keepAlive.wall),
    keepAliveP95Ms: percentile(keepAlive.wall, 0.95),
    keepAliveCpuMedianMs: median(keepAlive.cpu),
    plainMedianMs: median(plain),
  }
}

/** Seconds this thread spent producing its profiles for the profiler, since start(). */
function rotationSeconds(): number {
  return yappi.getOverhead().threads.find((thread) => thread.threadId === THIS_THREAD)?.breakdown.rotation ?? 0
}

/** Seconds the profiler thread spent folding and parsing, since start(). */
function profilerThreadSeconds(): number {
  const account = yappi.getOverhead().profilerThread
  return account ? account.breakdown.fold + account.breakdown.ingest : 0
}

/** Bytes and functions of the stats: the public getMemUsage() where this build has it, else the binding. */
function usage(): { usedBytes: number; functions: number } {
  const getMemUsage = (yappi as Record<string, unknown>).getMemUsage
  return typeof getMemUsage === 'function' ? (getMemUsage as () => { usedBytes: number; functions: number })() : native.memUsage()
}

/**
 * What one rotation of a real application costs: the workload runs once between fresh reads;
 * the thread times ending its own profile (V8's serialization), the profiler thread its parse and fold.
 */
async function realRotation(size: Size, name: string): Promise<RealRotationResult> {
  const session = await workloadNamed(name).open(size)
  yappi.start({ threads: false, rotateIntervalMs: 3_600_000, maxRotateIntervalMs: 3_600_000 })
  const parts = { rotateMs: [] as number[], foldMs: [] as number[], samples: [] as number[] }
  try {
    await session.run() // warm-up: the first profile also holds compilation
    yappi.getFuncStats()
    // Read after each fresh read: getThreadStats() folds what was sampled too, so a count taken
    // before the timed read would already hold the run's samples.
    const samplesSoFar = (): number => yappi.getThreadStats().get(THIS_THREAD)?.samples ?? 0
    let samplesBefore = samplesSoFar()
    for (let i = 0; i < (size === 'quick' ? 3 : 7); i++) {
      await session.run()
      const [rotation, fold] = [rotationSeconds(), profilerThreadSeconds()]
      yappi.getFuncStats()
      parts.rotateMs.push((rotationSeconds() - rotation) * 1000)
      parts.foldMs.push((profilerThreadSeconds() - fold) * 1000)
      const samples = samplesSoFar()
      parts.samples.push(samples - samplesBefore)
      samplesBefore = samples
    }
  } finally {
    yappi.stop()
    await session.close()
  }
  return {
    what: `${name}: one run per rotation`,
    samples: median(parts.samples),
    rotateMs: median(parts.rotateMs),
    foldMs: median(parts.foldMs),
  }
}

function edgesOf(stats: yappi.FuncStats): number {
  let edges = 0
  for (const stat of stats) edges += stat.callees.length
  return edges
}

/** One turn of the event loop: Node frees the buffers of returned typed arrays (N-API finalizers) there. */
const turn = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Rotates many times over the same functions, the event loop turning as in an application: memory must not grow. */
async function longRun(size: Size): Promise<LongRunResult> {
  const gc = (globalThis as { gc?: () => void }).gc
  const heads = functionChains(5, 200, 0.5, 'steady')
  // Stall recording off: each recorded stall keeps the stacks it ran (tens of KB here) until
  // the ring holds maxStalls, growth that is bounded but would read as a leak over these 1000
  // rotations (+40 % per function or edge; a loaded machine makes iterations pass 100 ms).
  yappi.start({ intervalUs: 100, threads: false, stallThresholdMs: 0 })
  // Until every function and edge has been seen, growth is legitimate: warm up first.
  for (let i = 0; i < 50; i++) {
    runAll(heads)
    yappi.getFuncStats()
    await turn()
  }
  const rotations = size === 'quick' ? 1000 : 4000
  let functions = 0
  const checkpoints: LongRunResult['checkpoints'] = []
  for (let i = 1; i <= rotations; i++) {
    runAll(heads)
    const stats = yappi.getFuncStats()
    functions = stats.toArray().length
    await turn()
    if (i % (rotations / 10) === 0) {
      gc?.()
      await turn()
      checkpoints.push({ rotation: i, usedBytes: usage().usedBytes, rssBytes: process.memoryUsage().rss, functions, edges: edgesOf(stats) })
    }
  }
  const result = { rotations, functions, checkpoints }
  yappi.stop()
  return result
}

async function measureEngine(size: Size, cpuprofile: string | undefined): Promise<EngineResults> {
  const folds = [foldSynthetic(size), ...(cpuprofile ? foldReal(size, cpuprofile) : [])]
  const stalls = stallDetectionCost(size)
  const realRotations = [await realRotation(size, 'tsc'), await realRotation(size, 'acorn')]

  // 500 chains × 200 functions = 100k distinct functions; the first 50 chains are the 10k.
  const started = process.hrtime.bigint()
  const heads = functionChains(500, 200, 1.5, 'generated')
  process.stderr.write(`compiled 100k functions in ${msSince(started).toFixed(0)} ms\n`)
  yappi.start({ intervalUs: 100, threads: false })
  runAll(heads.slice(0, 50))
  const snapshots = [await snapshotLatency(size === 'quick' ? 15 : 50)]
  runAll(heads.slice(50))
  snapshots.push(await snapshotLatency(size === 'quick' ? 5 : 15))
  const { usedBytes, functions } = usage()
  const memory = { usedBytes, functions, edges: edgesOf(yappi.getFuncStats()) }
  yappi.stop()

  const rotation = rotationCost(size, 100_000, heads)
  return { folds, stalls, snapshots, rotation, realRotations, memory }
}

const [section, sizeArg, cpuprofile] = process.argv.slice(2)
const size = sizeArg === 'full' ? 'full' : 'quick'
const measured = section === 'longrun' ? longRun(size) : measureEngine(size, cpuprofile && cpuprofile !== '-' ? cpuprofile : undefined)
measured.then(
  (result) => process.send?.(result, () => process.disconnect()),
  (error: unknown) => {
    process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.disconnect())
    process.exitCode = 1
  },
)
