// "Busy workers": real libraries on every thread at once — tsc, acorn, marked and a JSON loop in
// four workers, @babel/parser on main — sampled at 1 ms. Each thread times its own fixed amount
// of work on its own CPU clock (other tenants of the machine barely move it), after one warm-up
// run, all threads starting together. Configurations, one fresh process each, interleaved with
// the order rotated every repetition:
//
//   none        no profiler
//   yappi       yappi-node start({ intervalUs: 1000 }) before the workers start
//   --cpu-prof  node --cpu-prof (every thread, 1 ms)
//   bare        one inspector profile per thread, started by the thread itself, never rotated:
//               V8's sampler alone, the floor any sampling profiler pays
//
// A thread's slowdown is the median over repetitions of its CPU time divided by the same thread's
// in the `none` run of the same repetition. Under yappi-node the run also reports getOverhead()
// for every thread (our own share, and V8's sampling as estimated) and the profiler thread's CPU.
//
//   npm run bench -- --only=busy-workers [--reps=N]     (writes its section of RESULTS.md)
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import { Session } from 'node:inspector'
import * as os from 'node:os'
import * as path from 'node:path'
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads'

import { native } from '../src/native'
import { median } from './measure'
import { workloadNamed, type Size } from './workloads'

export const BUSY_CONFIGS = ['none', 'yappi', '--cpu-prof', 'bare'] as const
export type BusyConfig = (typeof BUSY_CONFIGS)[number]
/** The main thread's job, then one worker per job. */
const MAIN_JOB = 'babel'
const WORKER_JOBS = ['tsc', 'acorn', 'marked', 'json']
/** Measured runs per job (quick size; full doubles them): 1.5–4 s of CPU each on the reference machine, so the threads overlap. */
const RUNS: Record<string, number> = { babel: 3, tsc: 1, acorn: 2, marked: 5, json: 3 }

/** getOverhead() over a thread's measured runs (differences of two readings), ms. */
interface Account {
  /** Our own time on the thread (profilerTime). */
  oursMs: number
  /** v8SamplingEstimate.time. */
  estimateMs: number
  /** runTime. */
  runMs: number
  /** The profiler thread's CPU time (main's readings only: from the barrier to the end of every thread). */
  profilerCpuMs?: number
}

interface ThreadResult {
  job: string
  cpuMs: number
  wallMs: number
  account?: Account
}

interface ChildOutput {
  threads: ThreadResult[]
}

type Yappi = typeof import('../index')

/** This thread's account in a getOverhead() reading, in ms. */
function reading(yappi: Yappi): Account {
  const overhead = yappi.getOverhead()
  const mine = overhead.threads.find((t) => t.threadId === threadId)
  const cpu = overhead.profilerThread?.cpuTime
  return { oursMs: 1000 * (mine?.profilerTime ?? NaN), estimateMs: 1000 * (mine?.v8SamplingEstimate.time ?? NaN), runMs: 1000 * (mine?.runTime ?? NaN), profilerCpuMs: cpu === undefined ? undefined : 1000 * cpu }
}

const minus = (a: Account, b: Account): Account => ({
  oursMs: a.oursMs - b.oursMs,
  estimateMs: a.estimateMs - b.estimateMs,
  runMs: a.runMs - b.runMs,
  profilerCpuMs: a.profilerCpuMs === undefined || b.profilerCpuMs === undefined ? undefined : a.profilerCpuMs - b.profilerCpuMs,
})

// ---- the measured process ----------------------------------------------------------------------

/** Starts V8's sampler on this thread through a same-thread session; returns its stop. */
function startBare(): () => void {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.setSamplingInterval', { interval: 1000 })
  session.post('Profiler.start')
  return () => {
    session.post('Profiler.stop')
    session.disconnect()
  }
}

/** Opens the job, warms up once, waits for every thread at the barrier, then times its runs. */
async function runJob(job: string, size: Size, barrier: Int32Array, threads: number, yappi: Yappi | undefined): Promise<ThreadResult & { profilerCpuAtStart?: number }> {
  const workload = workloadNamed(job)
  const session = await workload.open(size)
  await session.run()
  Atomics.add(barrier, 0, 1)
  if (isMainThread) {
    while (Atomics.load(barrier, 0) < threads) await new Promise((resolve) => setTimeout(resolve, 5))
  } else {
    for (let seen = Atomics.load(barrier, 0); seen < threads; seen = Atomics.load(barrier, 0)) Atomics.wait(barrier, 0, seen, 5)
  }
  const before = yappi && reading(yappi)
  const cpu0 = (native.threadCpuTimeNs() ?? NaN)
  const wall0 = process.hrtime.bigint()
  for (let i = 0; i < RUNS[job] * (size === 'full' ? 2 : 1); i++) await session.run()
  const result: ThreadResult = { job, cpuMs: ((native.threadCpuTimeNs() ?? NaN) - cpu0) / 1e6, wallMs: Number(process.hrtime.bigint() - wall0) / 1e6 }
  if (yappi && before) result.account = minus(reading(yappi), before)
  await session.close()
  return Object.assign(result, { profilerCpuAtStart: before?.profilerCpuMs })
}

async function worker(): Promise<void> {
  const { job, size, config, barrier, threads } = workerData as { job: string; size: Size; config: BusyConfig; barrier: Int32Array; threads: number }
  const stopBare = config === 'bare' ? startBare() : undefined
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yappi = config === 'yappi' ? (require('../index') as Yappi) : undefined
  const { profilerCpuAtStart: _, ...result } = await runJob(job, size, barrier, threads, yappi)
  parentPort!.postMessage(result)
  // Stays (profiled, idle) until main has read getOverhead(), so every thread's account is open.
  parentPort!.once('message', () => {
    stopBare?.()
    parentPort!.close()
  })
}

async function measured(config: BusyConfig, size: Size): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yappi = config === 'yappi' ? (require('../index') as Yappi) : undefined
  yappi?.start({ intervalUs: 1000 })
  const stopBare = config === 'bare' ? startBare() : undefined
  const threads = 1 + WORKER_JOBS.length
  const barrier = new Int32Array(new SharedArrayBuffer(4))
  const workers = WORKER_JOBS.map((job) => new Worker(__filename, { name: job, workerData: { job, size, config, barrier, threads } }))
  const answers = workers.map((w) => new Promise<ThreadResult>((resolve, reject) => (w.once('message', resolve), w.once('error', reject))))
  const mine = await runJob(MAIN_JOB, size, barrier, threads, yappi)
  const theirs = await Promise.all(answers)
  // The profiler thread's CPU from the barrier (main's first reading) until every thread is done.
  const { profilerCpuAtStart, ...main } = mine
  if (yappi && main.account) main.account.profilerCpuMs = (reading(yappi).profilerCpuMs ?? NaN) - (profilerCpuAtStart ?? NaN)
  await Promise.all(workers.map((w) => new Promise((resolve) => (w.once('exit', resolve), w.postMessage('done')))))
  yappi?.stop()
  stopBare?.()
  const output: ChildOutput = { threads: [main, ...theirs] }
  process.send!(output, () => process.disconnect())
}

// ---- the parent ------------------------------------------------------------------------------

function runOnce(config: BusyConfig, size: Size, dir: string): Promise<ChildOutput> {
  fs.mkdirSync(dir, { recursive: true })
  const execArgv = config === '--cpu-prof' ? ['--cpu-prof', '--cpu-prof-dir', dir] : []
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--measured', config, size], { cwd: dir, execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], timeout: 300_000 })
    let stderr = ''
    let output: ChildOutput | undefined
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('message', (message) => (output = message as ChildOutput))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (output && code === 0) resolve(output)
      else reject(new Error(`busy-workers ${config}: exit ${code ?? signal}. ${stderr.slice(-2000)}`))
    })
  })
}

export interface BusyResults {
  reps: number
  size: Size
  /** Per repetition, per configuration: what each thread measured. */
  runs: Record<BusyConfig, ChildOutput>[]
}

export async function measureBusyWorkers(size: Size, reps: number, log: (line: string) => void): Promise<BusyResults> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-busy-'))
  const runs: Record<BusyConfig, ChildOutput>[] = []
  try {
    for (let rep = 0; rep < reps; rep++) {
      const byConfig = {} as Record<BusyConfig, ChildOutput>
      for (let k = 0; k < BUSY_CONFIGS.length; k++) {
        const config = BUSY_CONFIGS[(k + rep) % BUSY_CONFIGS.length]
        const dir = path.join(scratch, `${rep}-${config.replace(/\W/g, '_')}`)
        byConfig[config] = await runOnce(config, size, dir)
        fs.rmSync(dir, { recursive: true, force: true })
        log(`  rep ${rep + 1}/${reps} ${config}: ${byConfig[config].threads.map((t) => `${t.job} ${t.cpuMs.toFixed(0)} ms`).join(', ')}`)
      }
      runs.push(byConfig)
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  return { reps, size, runs }
}

const signed = (points: number) => `${points >= 0 ? '+' : ''}${points.toFixed(1)}`
const withRange = (values: number[]) => `${signed(median(values))} (${signed(Math.min(...values))} to ${signed(Math.max(...values))})`

/** Per thread and configuration: slowdown in points over `none`, one value per repetition. */
function slowdowns(results: BusyResults, config: BusyConfig, job: string): number[] {
  return results.runs.map((rep) => {
    const cpu = (c: BusyConfig) => rep[c].threads.find((t) => t.job === job)!.cpuMs
    return 100 * (cpu(config) / cpu('none') - 1)
  })
}

/** The yappi-node run's thread running `job`, per repetition. */
const yappiThread = (results: BusyResults, job: string) => results.runs.map((rep) => rep.yappi.threads.find((t) => t.job === job)!)
/** Per repetition, `of(account)` over the measured runs as a percentage of the thread's CPU time without a profiler. */
const ofBaseCpu = (results: BusyResults, job: string, of: (a: Account) => number) =>
  results.runs.map((rep) => (100 * of(rep.yappi.threads.find((t) => t.job === job)!.account!)) / rep.none.threads.find((t) => t.job === job)!.cpuMs)

export interface BusyCheck {
  target: string
  measured: string
  pass: boolean
}

export function busyChecks(results: BusyResults): BusyCheck[] {
  const checks: BusyCheck[] = []
  for (const job of [MAIN_JOB, ...WORKER_JOBS]) {
    const gap = results.runs.map((_, i) => slowdowns(results, 'yappi', job)[i] - slowdowns(results, '--cpu-prof', job)[i])
    checks.push({ target: `busy workers, ${job} thread: yappi slowdown ≤ --cpu-prof's + 1 point`, measured: `${withRange(gap)} points`, pass: median(gap) <= 1 })
  }
  const mainShare = yappiThread(results, MAIN_JOB).map((t) => (100 * t.account!.oursMs) / t.account!.runMs)
  checks.push({ target: "busy workers: our own share of main's time over its measured runs (getOverhead: Δ profilerTime / Δ runTime) ≤ 1 %", measured: `${median(mainShare).toFixed(2)} % (${Math.min(...mainShare).toFixed(2)} to ${Math.max(...mainShare).toFixed(2)})`, pass: median(mainShare) <= 1 })
  return checks
}

export function busySection(results: BusyResults, load: string): string {
  const jobs = [MAIN_JOB, ...WORKER_JOBS]
  const label = (job: string) => (job === MAIN_JOB ? `main (${job})` : `worker ${job}`)
  const cpuRows = jobs.map((job) => {
    const cpu = (config: BusyConfig) => median(results.runs.map((rep) => rep[config].threads.find((t) => t.job === job)!.cpuMs))
    const gap = results.runs.map((_, i) => slowdowns(results, 'yappi', job)[i] - slowdowns(results, '--cpu-prof', job)[i])
    return `| ${label(job)} | ${cpu('none').toFixed(0)} | ${withRange(slowdowns(results, 'yappi', job))} | ${withRange(slowdowns(results, '--cpu-prof', job))} | ${withRange(slowdowns(results, 'bare', job))} | ${withRange(gap)} |`
  })
  const reportRows = jobs.map((job) => {
    // Ours is timed on the wall clock (as getOverhead() does), so it is read as a share of the
    // thread's wall time, which on a loaded machine is not its CPU time; the estimate prices CPU.
    const share = yappiThread(results, job).map((t) => (100 * t.account!.oursMs) / t.account!.runMs)
    const estimate = ofBaseCpu(results, job, (a) => a.estimateMs)
    const total = share.map((o, i) => o + estimate[i])
    const measuredSlowdown = slowdowns(results, 'yappi', job)
    const gap = measuredSlowdown.map((m, i) => m - total[i])
    return `| ${label(job)} | ${median(share).toFixed(2)} % | ${median(estimate).toFixed(2)} % | ${withRange(slowdowns(results, 'bare', job))} | ${median(total).toFixed(2)} % | ${withRange(measuredSlowdown)} | ${withRange(gap)} |`
  })
  const profilerCpu = yappiThread(results, MAIN_JOB).map((t) => t.account!.profilerCpuMs ?? NaN)
  const userCpu = results.runs.map((rep) => rep.yappi.threads.reduce((sum, t) => sum + t.cpuMs, 0))
  const profilerShare = profilerCpu.map((p, i) => (100 * p) / userCpu[i])
  return [
    '## Busy workers: every thread\'s CPU time (issue 10)',
    '',
    `Load average ${load}; ${results.reps} repetitions, ${results.size} size, Node ${process.version}. Main runs @babel/parser (${RUNS.babel} parses), four workers run tsc (${RUNS.tsc}), acorn (${RUNS.acorn}), marked (${RUNS.marked}) and a JSON loop (${RUNS.json}) (quick size; full doubles them), all at once after one warm-up run each; each thread times its own work on its own CPU clock. Slowdown: median over repetitions of the paired ratio to \`none\` on that thread, in percent (min to max). \`bare\`: one inspector profile per thread, never rotated (V8's sampler alone). Reproduce: \`npm run bench -- --only=busy-workers --reps=${results.reps}\`.`,
    '',
    '| thread | CPU ms, none | yappi-node 1 ms | --cpu-prof | bare inspector profile | yappi − --cpu-prof (points) |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...cpuRows,
    '',
    '### getOverhead() beside the measured slowdown (yappi-node runs)',
    '',
    "Each thread reads getOverhead() at the start and the end of its measured runs; the differences are used. `ours`: Δ profilerTime / Δ runTime, getOverhead()'s own percentage (both on the wall clock). `V8 estimate`: Δ `v8SamplingEstimate.time` as a percentage of the thread's CPU time in the `none` run (the estimate prices CPU; its own `percent` is over wall time, which a loaded machine dilutes). `bare`: V8's sampler measured alone, what the estimate prices. `gap`: measured slowdown − (ours + estimate), points.",
    '',
    '| thread | ours (getOverhead) | V8 estimate | bare measured | reported total | measured slowdown | gap (points) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...reportRows,
    '',
    `Profiler thread CPU from the barrier until every thread was done: ${median(profilerCpu).toFixed(0)} ms per run (${Math.min(...profilerCpu).toFixed(0)} to ${Math.max(...profilerCpu).toFixed(0)}), ${median(profilerShare).toFixed(2)} % (${Math.min(...profilerShare).toFixed(2)} to ${Math.max(...profilerShare).toFixed(2)}) of the CPU the five user threads used in their measured runs.`,
    '',
  ].join('\n')
}

if (!isMainThread) void worker()
else if (process.argv[2] === '--measured') void measured(process.argv[3] as BusyConfig, process.argv[4] === 'full' ? 'full' : 'quick')
