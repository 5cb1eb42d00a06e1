// What one read costs the thread it reads, against what V8 itself charges that thread for the
// same profile. The main thread opens the tsc workload, starts a profiler at 1 ms, runs tsc once
// (a tsc-size profile: V8's tree of the compiler) and then, in fresh processes interleaved with
// the order rotated every repetition:
//
//   yappi      getFuncStats() with default freshness (rotates this thread, waits for the fold,
//              decodes); then tsc once more, and getFuncStats({ maxAgeMs }) accepting the data
//              up to the thread's last rotation (its age from getThreadStats({ maxAgeMs: Infinity }))
//   inspector  a bare same-thread session's Profiler.stop: V8 serializes the profile, Node parses it
//   handle     v8.startCpuProfile().stop() (Node ≥ 24.12): V8 serializes it to a string
//
// The yappi modes then time stop() and start() (three restarts, with tsc between) on the same
// clocks, and after the last stop() one more tsc run: `yappi` leaves V8's profiler kept alive
// between runs (keepV8Profiler, where Node allows it), `yappi, no keeper` stops it, so the
// difference in that run's CPU is the keeper's price to the application.
//
// Costs on the calling thread's CPU clock (wall beside it); the ratio is the median over
// repetitions of the paired ratio yappi / inspector (and yappi / handle) in the same repetition.
//
//   npm run bench -- --only=read-cost [--reps=N]
import { fork } from 'node:child_process'
import { Session } from 'node:inspector'
import * as v8 from 'node:v8'

import { native } from '../src/native'
import { median } from './measure'
import { workloadNamed } from './workloads'

export const READ_MODES = ['yappi', 'yappi, no keeper', 'inspector', 'handle'] as const
const RESTARTS = 3
type ReadMode = (typeof READ_MODES)[number]

interface Cost {
  cpuMs: number
  wallMs: number
}

interface ReadOutput {
  unsupported?: string
  /** The fresh read (yappi) or V8's stop (inspector, handle). */
  read?: Cost
  /** yappi: a read accepting data up to the last rotation. */
  aged?: Cost & { maxAgeMs: number }
  /** Nodes in the profile (inspector) or functions read (yappi). */
  size?: number
  /** yappi: the median stop() and start() of {@link RESTARTS}, and one tsc run after the last stop(). */
  stop?: Cost
  start?: Cost
  afterStop?: Cost
}

/** Starts both clocks of the calling thread; the returned function reads what elapsed. */
function clock(): () => Cost {
  const cpu0 = native.threadCpuTimeNs() ?? NaN
  const wall0 = process.hrtime.bigint()
  return () => ({ cpuMs: ((native.threadCpuTimeNs() ?? NaN) - cpu0) / 1e6, wallMs: Number(process.hrtime.bigint() - wall0) / 1e6 })
}

function timed<T>(work: () => T): [T, Cost] {
  const elapsed = clock()
  const value = work()
  return [value, elapsed()]
}

const medianCost = (costs: Cost[]): Cost => ({ cpuMs: median(costs.map((c) => c.cpuMs)), wallMs: median(costs.map((c) => c.wallMs)) })

type Handle = { stop(): string }
const startCpuProfile = (v8 as unknown as { startCpuProfile?: (options?: object) => Handle }).startCpuProfile

async function measured(mode: ReadMode): Promise<ReadOutput> {
  const tsc = await workloadNamed('tsc').open('quick')
  if (mode === 'yappi' || mode === 'yappi, no keeper') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const yappi = require('../index') as typeof import('../index')
    const options = { intervalUs: 1000, keepV8Profiler: mode === 'yappi' }
    yappi.start(options)
    await tsc.run()
    const [stats, read] = timed(() => yappi.getFuncStats())
    await tsc.run()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const main = yappi.getThreadStats({ maxAgeMs: Infinity }).toArray().find((thread) => thread.id === 0)!
    const maxAgeMs = Math.ceil(main.age * 1000) + 50
    const [, aged] = timed(() => yappi.getFuncStats({ maxAgeMs }))
    const stops: Cost[] = []
    const starts: Cost[] = []
    for (let restart = 0; restart < RESTARTS; restart++) {
      stops.push(timed(() => yappi.stop())[1])
      starts.push(timed(() => yappi.start(options))[1])
      await tsc.run()
    }
    yappi.stop()
    const elapsed = clock()
    await tsc.run()
    const afterStop = elapsed()
    return { read, aged: { ...aged, maxAgeMs }, size: stats.toArray().length, stop: medianCost(stops), start: medianCost(starts), afterStop }
  }
  if (mode === 'handle') {
    if (!startCpuProfile) return { unsupported: `v8.startCpuProfile() needs Node ≥ 24.12 (this is ${process.version})` }
    const handle = startCpuProfile.length > 0 ? startCpuProfile({ sampleInterval: 1 }) : startCpuProfile()
    await tsc.run()
    const [json, read] = timed(() => handle.stop())
    return { read, size: json.length }
  }
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 1000 })
  session.post('Profiler.start')
  await tsc.run()
  let nodes = 0
  const [, read] = timed(() => session.post('Profiler.stop', (error, result) => (nodes = error ? 0 : result.profile.nodes.length)))
  session.disconnect()
  return { read, size: nodes }
}

function runOnce(mode: ReadMode): Promise<ReadOutput> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--measured', mode], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], timeout: 180_000 })
    let stderr = ''
    let output: (ReadOutput & { error?: string }) | undefined
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('message', (message) => (output = message as ReadOutput))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (output && !output.error && code === 0) resolve(output)
      else reject(new Error(`read-cost ${mode}: exit ${code}. ${output?.error ?? ''} ${stderr.slice(-2000)}`))
    })
  })
}

export interface ReadResults {
  reps: number
  runs: Record<ReadMode, ReadOutput>[]
}

export async function measureReadCost(reps: number, log: (line: string) => void): Promise<ReadResults> {
  const runs: Record<ReadMode, ReadOutput>[] = []
  for (let rep = 0; rep < reps; rep++) {
    const byMode = {} as Record<ReadMode, ReadOutput>
    for (let k = 0; k < READ_MODES.length; k++) {
      const mode = READ_MODES[(k + rep) % READ_MODES.length]
      byMode[mode] = await runOnce(mode)
      log(`  rep ${rep + 1}/${reps} ${mode}: ${byMode[mode].unsupported ?? `${byMode[mode].read!.cpuMs.toFixed(1)} ms CPU${byMode[mode].aged ? `, aged read ${byMode[mode].aged!.cpuMs.toFixed(2)} ms` : ''}`}`)
    }
    runs.push(byMode)
  }
  return { reps, runs }
}

const range = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)} to ${Math.max(...values).toFixed(digits)})`

function ratios(results: ReadResults, against: ReadMode): number[] {
  return results.runs.filter((rep) => !rep[against].unsupported).map((rep) => rep.yappi.read!.cpuMs / rep[against].read!.cpuMs)
}

export function readChecks(results: ReadResults): { target: string; measured: string; pass: boolean }[] {
  const vsInspector = ratios(results, 'inspector')
  const vsHandle = ratios(results, 'handle')
  const aged = results.runs.map((rep) => rep.yappi.aged!.cpuMs)
  const checks = [
    { target: "fresh getFuncStats() of a tsc-size profile ≤ 1.25× V8's Profiler.stop of the same run (thread CPU)", measured: `${range(vsInspector, 2)}×`, pass: median(vsInspector) <= 1.25 },
    { target: 'getFuncStats({ maxAgeMs }) up to the last rotation ≤ 5 ms (thread CPU)', measured: `${range(aged, 2)} ms`, pass: median(aged) <= 5 },
  ]
  if (vsHandle.length > 0) checks.splice(1, 0, { target: "fresh getFuncStats() ≤ 1.25× v8.startCpuProfile().stop() of the same run", measured: `${range(vsHandle, 2)}×`, pass: median(vsHandle) <= 1.25 })
  const restartOverRead = results.runs.map((rep) => rep.yappi.stop!.cpuMs + rep.yappi.start!.cpuMs - rep.yappi.read!.cpuMs)
  checks.push({ target: 'stop()+start() blocks the thread no longer than a fresh read (thread CPU, paired)', measured: `${range(restartOverRead, 1)} ms longer`, pass: median(restartOverRead) <= 0 })
  return checks
}

export function readSection(results: ReadResults, load: string): string {
  const rows = READ_MODES.map((mode) => {
    const mine = results.runs.map((rep) => rep[mode]).filter((run) => !run.unsupported)
    const what = { yappi: 'yappi-node getFuncStats(), fresh', 'yappi, no keeper': 'the same, keepV8Profiler: false', inspector: "bare session's Profiler.stop (V8 serializes, Node parses)", handle: 'v8.startCpuProfile().stop() (JSON string)' }[mode]
    if (mine.length === 0) return `| ${what} | n/a: ${results.runs[0][mode].unsupported} | | | |`
    const ratio = mode === 'yappi' ? '—' : `${range(ratios(results, mode), 2)}×`
    return `| ${what} | ${range(mine.map((r) => r.read!.cpuMs), 1)} | ${range(mine.map((r) => r.read!.wallMs), 1)} | ${median(mine.map((r) => r.size ?? NaN))} | ${ratio} |`
  })
  const aged = results.runs.map((rep) => rep.yappi.aged!)
  return [
    '## Cost of one read on the profiled thread (issue 10)',
    '',
    `Load average ${load}; ${results.reps} repetitions, Node ${process.version}, fresh process per run, modes interleaved. Main thread: tsc once under a 1 ms profiler, then the read. Medians (min to max). Reproduce: \`npm run bench -- --only=read-cost --reps=${results.reps}\`.`,
    '',
    '| read | thread CPU ms | wall ms | size (functions read / profile nodes / JSON bytes) | fresh read ÷ this (paired) |',
    '| --- | ---: | ---: | ---: | ---: |',
    ...rows,
    `| yappi-node getFuncStats({ maxAgeMs }) up to the last rotation (after a second tsc run) | ${range(aged.map((a) => a.cpuMs), 2)} | ${range(aged.map((a) => a.wallMs), 2)} | maxAgeMs ${median(aged.map((a) => a.maxAgeMs)).toFixed(0)} | |`,
    '',
    `### stop() and start() (median of ${RESTARTS} restarts per run, tsc between), and the application after the last stop()`,
    '',
    '| run | stop() CPU ms | stop() wall ms | start() CPU ms | start() wall ms | tsc after stop(), CPU ms |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...(['yappi', 'yappi, no keeper'] as const).map((mode) => {
      const mine = results.runs.map((rep) => rep[mode])
      const cell = (pick: (run: ReadOutput) => number, digits: number) => range(mine.map(pick), digits)
      return `| ${mode === 'yappi' ? 'keepV8Profiler: true (default)' : 'keepV8Profiler: false'} | ${cell((r) => r.stop!.cpuMs, 1)} | ${cell((r) => r.stop!.wallMs, 1)} | ${cell((r) => r.start!.cpuMs, 1)} | ${cell((r) => r.start!.wallMs, 1)} | ${cell((r) => r.afterStop!.cpuMs, 0)} |`
    }),
    '',
    `The keeper's price to the application after stop() (paired, keeper ÷ none): ${range(results.runs.map((rep) => rep.yappi.afterStop!.cpuMs / rep['yappi, no keeper'].afterStop!.cpuMs), 3)}×. Where Node's handles take no options (Node ≤ 24) no keeper runs, and both rows measure the same thing.`,
    '',
  ].join('\n')
}

if (process.argv[2] === '--measured') {
  measured(process.argv[3] as ReadMode).then(
    (output) => process.send!(output, () => process.disconnect()),
    (error: unknown) => process.send!({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.disconnect()),
  )
}
