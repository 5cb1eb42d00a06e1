// V8's own sampling cost on the profiled thread, per sample: the signal that interrupts the
// thread and the stack walk in its handler, which no timer in the profiler's code can see. This
// is the calibration behind `getOverhead()`'s `v8SamplingEstimate` (src/overhead.ts).
//
// In one fresh process per Node version, on the main thread: a fixed unit of work (a loop under
// 40 frames of recursion, so each sample walks a stack of a real program's depth) timed on the
// thread's CPU clock, in pairs of slices with V8's sampler off and on (a same-thread inspector
// session, started before the slice and stopped after it, so neither the start's code logging nor
// the stop's serialization is in the slice). Cost per sample = (CPU on − CPU off) / samples taken
// in the "on" slice; the median over pairs, min–max beside it.
//
//   npm run bench -- --only=sampling-cost          (this Node; writes its section of RESULTS.md)
//   node dist/benches/sampling-cost.js [pairs]     (prints one JSON line per interval)
import { fork } from 'node:child_process'
import { Session } from 'node:inspector'

import { native } from '../src/native'
import { median } from './measure'

export interface SamplingCost {
  node: string
  intervalUs: number
  pairs: number
  /** Median over pairs of the extra thread CPU per sample, ns. */
  costPerSampleNs: number
  minNs: number
  maxNs: number
  /** Median extra thread CPU of the "on" slice over the "off" one, percent. */
  slowdownPct: number
  samplesPerSlice: number
}

const DEPTH = 40

function spin(iterations: number): number {
  let acc = 0
  for (let i = 0; i < iterations; i++) acc = (acc + ((i * 2654435761) % 97)) % 1_000_003
  return acc
}

function descend(depth: number, iterations: number): number {
  return depth === 0 ? spin(iterations) : descend(depth - 1, iterations) + 1
}

/** Synchronous post on a same-thread session: the callback runs before `post` returns. */
function post<T>(session: Session, method: string, params?: object): T {
  let result: T | undefined
  let failure: Error | null = null
  session.post(method, params ?? {}, (error, value) => {
    failure = error
    result = value as T
  })
  if (failure) throw failure
  return result as T
}

/** One slice of work, timed on this thread's CPU clock (ns). */
function slice(iterations: number): number {
  const before = (native.threadCpuTimeNs() ?? NaN)
  descend(DEPTH, iterations)
  return (native.threadCpuTimeNs() ?? NaN) - before
}

function calibrate(intervalUs: number, pairs: number, iterations: number, session: Session): SamplingCost {
  const perSample: number[] = []
  const slowdowns: number[] = []
  const samples: number[] = []
  post(session, 'Profiler.setSamplingInterval', { interval: intervalUs })
  for (let pair = 0; pair < pairs; pair++) {
    // Off and on alternate which goes first, so a drift of the machine's load hits both alike.
    const on = (): [number, number] => {
      post(session, 'Profiler.start')
      const ns = slice(iterations)
      const { profile } = post<{ profile: { samples?: number[] } }>(session, 'Profiler.stop')
      return [ns, profile.samples?.length ?? 0]
    }
    let off: number
    let onNs: number
    let taken: number
    if (pair % 2 === 0) {
      off = slice(iterations)
      ;[onNs, taken] = on()
    } else {
      ;[onNs, taken] = on()
      off = slice(iterations)
    }
    if (taken === 0) continue
    perSample.push((onNs - off) / taken)
    slowdowns.push((100 * (onNs - off)) / off)
    samples.push(taken)
  }
  return {
    node: process.version,
    intervalUs,
    pairs: perSample.length,
    costPerSampleNs: median(perSample),
    minNs: Math.min(...perSample),
    maxNs: Math.max(...perSample),
    slowdownPct: median(slowdowns),
    samplesPerSlice: median(samples),
  }
}

export const CALIBRATED_INTERVALS_US = [100, 1000]

function child(pairs: number): void {
  const session = new Session()
  session.connect()
  post(session, 'Profiler.enable')
  // About 250 ms of work per slice on this machine; warm up first so both slices run optimized code.
  const iterations = 15_000_000
  for (let i = 0; i < 3; i++) slice(iterations)
  const results = CALIBRATED_INTERVALS_US.map((intervalUs) => calibrate(intervalUs, pairs, iterations, session))
  session.disconnect()
  for (const result of results) process.stdout.write(`${JSON.stringify(result)}\n`)
}

/** Runs the calibration in a fresh process of `execPath` (a Node binary). */
export function measureSamplingCost(pairs: number, execPath = process.execPath): Promise<SamplingCost[]> {
  return new Promise((resolve, reject) => {
    const proc = fork(__filename, ['--child', String(pairs)], { execPath, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    proc.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()))
    proc.on('error', reject)
    proc.on('exit', (code) => {
      if (code !== 0) reject(new Error(`sampling-cost child exited ${code}`))
      else resolve(out.trim().split('\n').map((line) => JSON.parse(line) as SamplingCost))
    })
  })
}

export function samplingCostSection(results: SamplingCost[], load: string): string {
  const rows = results.map(
    (r) => `| ${r.node} | ${r.intervalUs} µs | ${r.pairs} | ${r.samplesPerSlice} | ${(r.costPerSampleNs / 1000).toFixed(2)} µs (${(r.minNs / 1000).toFixed(2)} to ${(r.maxNs / 1000).toFixed(2)}) | ${r.slowdownPct.toFixed(2)} % |`,
  )
  return [
    '## V8 sampling cost per sample (calibration of `v8SamplingEstimate`)',
    '',
    `Load average ${load}. A loop under ${DEPTH} frames, main thread, pairs of ~250 ms slices with V8's sampler off and on (same-thread inspector session), on the thread's CPU clock. Cost per sample = extra CPU / samples in the "on" slice: median over pairs (min to max).`,
    '',
    '| Node | interval | pairs | samples per slice | extra thread CPU per sample | slowdown of the slice |',
    '| --- | ---: | ---: | ---: | --- | ---: |',
    ...rows,
    '',
  ].join('\n')
}

if (process.argv[2] === '--child') child(Number(process.argv[3] ?? 12))
else if (require.main === module) {
  measureSamplingCost(Number(process.argv[2] ?? 12)).then(
    (results) => results.forEach((r) => console.log(JSON.stringify(r))),
    (error: unknown) => {
      console.error(error)
      process.exitCode = 1
    },
  )
}
