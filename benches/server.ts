// A profiled server under load (issue 10): fastify with three routes tagged through
// setTagCallback (the route of the request, from an AsyncLocalStorage), two busy workers, and a
// bounded loopback load from this (parent) process: CONNECTIONS keep-alive clients send
// REQUESTS requests in all, after a warm-up of WARMUP requests. Fresh process per run, modes
// interleaved with the order rotated every repetition; requests/s and p99 latency as medians of
// the paired ratio to `none` in the same repetition.
//
//   none            no profiler
//   yappi 1ms       yappi-node start({ intervalUs: 1000 }) before the server listens
//   yappi 10ms      start({ intervalUs: 10000 }), the production peers' rate
//   yappi 10ms untagged  the same without a tag source or the routes' storage
//   --cpu-prof      node --cpu-prof (every thread, 1 ms)
//   @datadog/pprof  pprof.time.start({ intervalMicros: 10000 }) (main thread)
//
// In the yappi 1ms run, after the load: `stop()` + `start()` and a fresh `getFuncStats()`, each
// timed on the calling thread, from main and from a worker, with main's event-loop delay
// (perf_hooks histogram) while a worker makes the call.
//
// The price of `deoptimize` (issue 11), in runs of their own: the server warmed without a
// profiler, then `start({ deoptimize })` (or nothing, `restart none`) and at once the load;
// requests/s in the first second and in the next two, on the clients' clock.
//
//   npm run bench -- --only=server [--reps=N]
//   npm run bench -- --only=deoptimize [--reps=N]
import { AsyncLocalStorage } from 'node:async_hooks'
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

import { native } from '../src/native'
import { unitOfWork } from './busy-unit'
import { median, percentile } from './measure'

/** 'yappi 10ms untagged' sets no tag source and no route storage: the tagging's share of 'yappi 10ms'. */
export const SERVER_MODES = ['none', 'yappi 1ms', 'yappi 10ms', 'yappi 10ms untagged', '--cpu-prof', '@datadog/pprof'] as const
export const DEOPT_MODES = ['restart none', 'deoptimize on', 'deoptimize off'] as const
type Mode = (typeof SERVER_MODES)[number] | (typeof DEOPT_MODES)[number]

const WORKERS = 2
const CONNECTIONS = 32
const WARMUP = 3000
const REQUESTS = 8000
/** The deoptimize runs measure the first 3 s after start(): enough requests to last them. */
const DEOPT_REQUESTS = 16_000
/** The deoptimize runs' first requests after start(), whose main-thread CPU is taken apart: the re-warm. */
const REWARM_REQUESTS = 2000

type Yappi = typeof import('../index')
// eslint-disable-next-line @typescript-eslint/no-require-imports
const loadYappi = (): Yappi => require('../index') as Yappi

interface Timing {
  cpuMs: number
  wallMs: number
}

interface ControlTimes {
  /** stop() + start() on main. */
  mainRestart: Timing
  /** getFuncStats() on main. */
  mainRead: Timing
  /** stop() + start() from a busy worker, and main's longest event-loop delay meanwhile. */
  workerRestart: Timing & { mainStallMs: number }
  /** getFuncStats() from a busy worker, and main's longest event-loop delay meanwhile. */
  workerRead: Timing & { mainStallMs: number }
}

function timed(work: () => void): Timing {
  const cpu0 = (native.threadCpuTimeNs() ?? NaN)
  const wall0 = process.hrtime.bigint()
  work()
  return { cpuMs: ((native.threadCpuTimeNs() ?? NaN) - cpu0) / 1e6, wallMs: Number(process.hrtime.bigint() - wall0) / 1e6 }
}

// ---- the measured process ----------------------------------------------------------------------

/** A busy worker that, when asked, times a restart or a read from its own thread. */
function worker(): void {
  const { counts, index } = workerData as { counts: Int32Array; index: number }
  parentPort!.on('message', (op: 'restart' | 'read') => {
    const yappi = loadYappi()
    const timing = timed(() => {
      if (op === 'restart') {
        yappi.stop()
        yappi.start({ intervalUs: 1000 })
      } else yappi.getFuncStats()
    })
    parentPort!.postMessage(timing)
  })
  // Busy in slices, so the messages above are seen between them.
  const slice = (): void => {
    const until = Date.now() + 50
    while (Date.now() < until && Atomics.load(counts, 0) === 0) {
      unitOfWork(index)
      Atomics.add(counts, 1 + index, 1)
    }
    if (Atomics.load(counts, 0) === 0) setImmediate(slice)
    else parentPort!.close()
  }
  slice()
}

function startProfiler(mode: Mode): (() => void) | undefined {
  if (mode === 'yappi 1ms' || mode === 'yappi 10ms' || mode === 'yappi 10ms untagged') {
    const yappi = loadYappi()
    if (mode !== 'yappi 10ms untagged') {
      const routes = new AsyncLocalStorage<string>()
      yappi.setTagCallback(() => routes.getStore())
      tagStorage = routes
    }
    yappi.start({ intervalUs: mode === 'yappi 1ms' ? 1000 : 10_000 })
    return () => yappi.stop()
  }
  if (mode === '@datadog/pprof') {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pprof = require('@datadog/pprof') as typeof import('@datadog/pprof')
    pprof.time.start({ intervalMicros: 10_000 })
    return () => void pprof.encodeSync(pprof.time.stop())
  }
  return undefined
}

let tagStorage: AsyncLocalStorage<string> | undefined

/** What the routes compute: a JSON item, a sorted search, a small rendered page. */
function item(id: number): object {
  const n = id % 50
  return { id, items: Array.from({ length: 10 }, (_, i) => ({ n: n + i, square: (n + i) * (n + i) })) }
}

function search(q: string): object {
  const hits = Array.from({ length: 200 }, (_, i) => ({ score: (i * 2654435761 + q.length) % 1009, name: `${q}-${i}` }))
  hits.sort((a, b) => b.score - a.score)
  return { q, top: hits.slice(0, 10) }
}

function page(id: number): string {
  const rows = Array.from({ length: 40 }, (_, i) => `<tr><td>${id}</td><td>${i}</td><td>${(id * i) % 97}</td></tr>`)
  return `<html><body><table>${rows.join('')}</table></body></html>`
}

async function measured(mode: Mode): Promise<void> {
  const counts = new Int32Array(new SharedArrayBuffer(4 * (1 + WORKERS)))
  const stopProfiler = startProfiler(mode)
  const workers = Array.from({ length: WORKERS }, (_, index) => new Worker(__filename, { name: `busy-${index}`, workerData: { counts, index } }))
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const Fastify = require('fastify') as typeof import('fastify').default
  const app = Fastify({ logger: false })
  // The route's tag holds for everything the request does next (run() around fastify's continuation).
  app.addHook('onRequest', (request, _reply, done) => (tagStorage ? tagStorage.run(request.routeOptions.url ?? 'unknown', done) : done()))
  app.get<{ Params: { id: string } }>('/item/:id', async (request) => item(Number(request.params.id)))
  app.get<{ Querystring: { q: string } }>('/search', async (request) => search(request.query.q ?? ''))
  app.get<{ Params: { id: string } }>('/page/:id', async (request, reply) => reply.type('text/html').send(page(Number(request.params.id))))
  await app.listen({ port: 0, host: '127.0.0.1' })
  process.send!({ port: (app.server.address() as AddressInfo).port })
  const next = () => new Promise<string>((resolve) => process.once('message', (message) => resolve(String(message))))
  let controls: ControlTimes | undefined
  for (let op = await next(); op !== 'stop'; op = await next()) {
    if (op === 'deoptimize on' || op === 'deoptimize off') loadYappi().start({ intervalUs: 1000, deoptimize: op === 'deoptimize on' })
    if (op === 'controls') controls = await controlTimes(workers[0])
    process.send!({ ok: op, mainCpuMs: (native.threadCpuTimeNs() ?? NaN) / 1e6 })
  }
  Atomics.store(counts, 0, 1)
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('exit', resolve))))
  await app.close()
  stopProfiler?.()
  if (mode === 'deoptimize on' || mode === 'deoptimize off') loadYappi().stop()
  process.send!({ controls }, () => process.disconnect())
}

/** Asks a worker for an operation and records main's event-loop delay until it answers. */
async function fromWorker(worker: Worker, op: 'restart' | 'read'): Promise<Timing & { mainStallMs: number }> {
  const delay = monitorEventLoopDelay({ resolution: 1 })
  delay.enable()
  const timing = await new Promise<Timing>((resolve) => {
    worker.once('message', resolve)
    worker.postMessage(op)
  })
  delay.disable()
  return { ...timing, mainStallMs: delay.max / 1e6 }
}

async function controlTimes(busy: Worker): Promise<ControlTimes> {
  const yappi = loadYappi()
  const mainRestart = timed(() => {
    yappi.stop()
    yappi.start({ intervalUs: 1000 })
  })
  await new Promise((resolve) => setTimeout(resolve, 300))
  const mainRead = timed(() => yappi.getFuncStats())
  const workerRestart = await fromWorker(busy, 'restart')
  await new Promise((resolve) => setTimeout(resolve, 300))
  const workerRead = await fromWorker(busy, 'read')
  return { mainRestart, mainRead, workerRestart, workerRead }
}

// ---- the clients (in the parent) ---------------------------------------------------------------

const TARGETS = ['/item/', '/search?q=', '/page/']

interface Load {
  /** Request completion times since the load began, ms. */
  doneAtMs: number[]
  latenciesMs: number[]
  wallMs: number
  failed: number
}

/** `origin`: what completion times count from (default: the start of this load). */
async function load(port: number, total: number, origin?: bigint): Promise<Load> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  const result: Load = { doneAtMs: [], latenciesMs: [], wallMs: 0, failed: 0 }
  const start = process.hrtime.bigint()
  const begin = origin ?? start
  let sent = 0
  const client = async () => {
    while (sent < total) {
      const n = sent++
      const at = process.hrtime.bigint()
      const ok = await new Promise<boolean>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: `${TARGETS[n % TARGETS.length]}${n}`, agent }, (res) => {
            res.resume()
            res.on('end', () => resolve(res.statusCode === 200))
          })
          .on('error', () => resolve(false))
      })
      const now = process.hrtime.bigint()
      if (!ok) result.failed++
      result.latenciesMs.push(Number(now - at) / 1e6)
      result.doneAtMs.push(Number(now - begin) / 1e6)
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, client))
  result.wallMs = Number(process.hrtime.bigint() - start) / 1e6
  agent.destroy()
  return result
}

export interface ServerRun {
  mode: Mode
  rps: number
  p99Ms: number
  /** The main thread's CPU time over the measured load, per request: what other tenants' load barely moves. */
  mainCpuPerRequestMs: number
  failed: number
  /** Deoptimize runs: requests/s in the first second after start(), and in the next two. */
  firstSecondRps?: number
  nextTwoSecondsRps?: number
  /** Deoptimize runs: main-thread CPU per request over the first REWARM_REQUESTS after start(), and over the rest. */
  rewarmCpuPerRequestMs?: number
  steadyCpuPerRequestMs?: number
  controls?: ControlTimes
}

async function runOnce(mode: Mode, dir: string): Promise<ServerRun> {
  fs.mkdirSync(dir, { recursive: true })
  const execArgv = mode === '--cpu-prof' ? ['--cpu-prof', '--cpu-prof-dir', dir] : []
  const child = fork(__filename, ['--measured', mode], { cwd: dir, execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  const message = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server ${mode}: no answer in 120 s`)), 120_000)
      child.once('message', (value) => (clearTimeout(timer), resolve(value as Record<string, unknown>)))
      child.once('exit', (code) => reject(new Error(`server ${mode}: the measured process exited (${code})`)))
    })
  const ask = async (op: string) => {
    const answer = message()
    child.send(op)
    return answer
  }
  try {
    const { port } = (await message()) as { port: number }
    await load(port, WARMUP)
    const deopt = (DEOPT_MODES as readonly string[]).includes(mode)
    const { mainCpuMs: cpu0 } = (await ask(deopt ? mode : 'mark')) as { mainCpuMs: number }
    const origin = process.hrtime.bigint()
    const first = deopt ? await load(port, REWARM_REQUESTS, origin) : undefined
    const { mainCpuMs: cpuFirst } = first ? ((await ask('mark')) as { mainCpuMs: number }) : { mainCpuMs: cpu0 }
    const rest = await load(port, deopt ? DEOPT_REQUESTS - REWARM_REQUESTS : REQUESTS, origin)
    const { mainCpuMs: cpu1 } = (await ask('mark')) as { mainCpuMs: number }
    const run: Load = first
      ? { doneAtMs: [...first.doneAtMs, ...rest.doneAtMs], latenciesMs: [...first.latenciesMs, ...rest.latenciesMs], wallMs: first.wallMs + rest.wallMs, failed: first.failed + rest.failed }
      : rest
    if (mode === 'yappi 1ms') await ask('controls')
    const { controls } = (await ask('stop')) as { controls?: ControlTimes }
    const within = (from: number, to: number) => run.doneAtMs.filter((t) => t >= from && t < to).length
    return {
      mode,
      rps: run.latenciesMs.length / (run.wallMs / 1000),
      p99Ms: percentile(run.latenciesMs, 0.99),
      mainCpuPerRequestMs: (cpu1 - cpu0) / run.latenciesMs.length,
      failed: run.failed,
      firstSecondRps: deopt ? within(0, 1000) : undefined,
      rewarmCpuPerRequestMs: first ? (cpuFirst - cpu0) / first.latenciesMs.length : undefined,
      steadyCpuPerRequestMs: first ? (cpu1 - cpuFirst) / rest.latenciesMs.length : undefined,
      nextTwoSecondsRps: deopt ? within(1000, 3000) / 2 : undefined,
      controls,
    }
  } finally {
    child.kill()
  }
}

export async function measureServer(modes: readonly Mode[], reps: number, log: (line: string) => void): Promise<ServerRun[][]> {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-server-'))
  const runs: ServerRun[][] = []
  try {
    for (let rep = 0; rep < reps; rep++) {
      const byMode = new Map<Mode, ServerRun>()
      for (let k = 0; k < modes.length; k++) {
        const mode = modes[(k + rep) % modes.length]
        const run = await runOnce(mode, path.join(scratch, `${rep}-${mode.replace(/\W/g, '_')}`))
        byMode.set(mode, run)
        log(`  rep ${rep + 1}/${reps} ${mode}: ${run.rps.toFixed(0)} req/s, p99 ${run.p99Ms.toFixed(1)} ms${run.firstSecondRps === undefined ? '' : `, first s ${run.firstSecondRps} req/s, next 2 s ${run.nextTwoSecondsRps} req/s`}${run.failed ? `, ${run.failed} failed` : ''}`)
      }
      runs.push(modes.map((mode) => byMode.get(mode)!))
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  return runs
}

const range = (values: number[], digits: number) => `${median(values).toFixed(digits)} (${Math.min(...values).toFixed(digits)} to ${Math.max(...values).toFixed(digits)})`
/** Per repetition, `of(mode)` / `of(baseline)` in the same repetition. */
const paired = (runs: ServerRun[][], m: number, base: number, of: (run: ServerRun) => number) => runs.map((rep) => of(rep[m]) / of(rep[base]))

export function serverChecks(runs: ServerRun[][]): { target: string; measured: string; pass: boolean }[] {
  const at = (mode: Mode) => SERVER_MODES.indexOf(mode as (typeof SERVER_MODES)[number])
  const rps = (mode: Mode) => paired(runs, at(mode), 0, (r) => r.rps)
  const p99 = (mode: Mode) => paired(runs, at(mode), 0, (r) => r.p99Ms)
  const stalls = runs.map((rep) => rep[at('yappi 1ms')].controls!)
  const restartOverRead = stalls.map((c) => c.workerRestart.mainStallMs - c.workerRead.mainStallMs)
  const blockOverRead = stalls.map((c) => Math.max(c.mainRestart.wallMs - c.mainRead.wallMs, c.workerRestart.wallMs - c.workerRead.wallMs))
  return [
    { target: 'server, yappi 1 ms: requests/s ≥ --cpu-prof\'s (paired ratios to none)', measured: `${range(rps('yappi 1ms'), 3)}× vs ${range(rps('--cpu-prof'), 3)}×`, pass: median(rps('yappi 1ms')) >= median(rps('--cpu-prof')) },
    { target: "server, yappi 1 ms: p99 ≤ --cpu-prof's", measured: `${range(p99('yappi 1ms'), 3)}× vs ${range(p99('--cpu-prof'), 3)}×`, pass: median(p99('yappi 1ms')) <= median(p99('--cpu-prof')) },
    { target: 'server, yappi 10 ms: requests/s ≥ 0.99× none', measured: `${range(rps('yappi 10ms'), 3)}×`, pass: median(rps('yappi 10ms')) >= 0.99 },
    { target: 'server, yappi 10 ms: p99 ≤ 1.05× none', measured: `${range(p99('yappi 10ms'), 3)}×`, pass: median(p99('yappi 10ms')) <= 1.05 },
    { target: 'stop()+start() blocks the calling thread no longer than a read (wall, worst of main and a worker, minus the read)', measured: `${range(blockOverRead, 1)} ms longer`, pass: median(blockOverRead) <= 0 },
    { target: "stop()+start() from a worker stalls main's event loop no more than a read from it", measured: `${range(restartOverRead, 1)} ms more`, pass: median(restartOverRead) <= 0 },
  ]
}

export function serverSection(runs: ServerRun[][], load: string): string {
  const rows = SERVER_MODES.map((mode, m) => {
    const mine = runs.map((rep) => rep[m])
    const vs = (of: (r: ServerRun) => number) => (m === 0 ? '—' : `${range(paired(runs, m, 0, of), 3)}×`)
    return `| ${mode} | ${median(mine.map((r) => r.rps)).toFixed(0)} | ${vs((r) => r.rps)} | ${median(mine.map((r) => r.p99Ms)).toFixed(1)} | ${vs((r) => r.p99Ms)} | ${(1000 * median(mine.map((r) => r.mainCpuPerRequestMs))).toFixed(0)} µs | ${vs((r) => r.mainCpuPerRequestMs)} | ${median(mine.map((r) => r.failed))} |`
  })
  const controls = runs.map((rep) => rep[SERVER_MODES.indexOf('yappi 1ms')].controls!)
  const timing = (label: string, of: (c: ControlTimes) => Timing & { mainStallMs?: number }) => {
    const all = controls.map(of)
    const stall = all[0].mainStallMs === undefined ? '—' : range(all.map((t) => t.mainStallMs!), 1)
    return `| ${label} | ${range(all.map((t) => t.wallMs), 1)} | ${range(all.map((t) => t.cpuMs), 1)} | ${stall} |`
  }
  return [
    '## Server under load (issue 10)',
    '',
    `Load average ${load}; ${runs.length} repetitions, Node ${process.version}. fastify, three routes tagged by route through setTagCallback (but in 'yappi 10ms untagged', which sets no tag source: the difference is the tagging's price), ${WORKERS} busy workers; ${CONNECTIONS} keep-alive loopback clients in the parent send ${REQUESTS} requests after ${WARMUP} of warm-up. Fresh process per run, modes interleaved; ratios are medians of paired ratios to \`none\` (min to max). @datadog/pprof samples main only, at 10 ms. Requests/s and p99 are on the wall clock and follow the machine's load (other tenants); the main thread's CPU per request (its thread clock over the measured load) barely does, and is the cost to read when they disagree. Reproduce: \`npm run bench -- --only=server --reps=${runs.length}\`.`,
    '',
    '| mode | requests/s | vs none | p99 ms | vs none | main thread CPU per request | vs none | failed |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    '### stop() + start() against a read (yappi 1 ms run, after the load)',
    '',
    "Timed on the calling thread; main's event-loop delay (perf_hooks, 1 ms resolution) is its maximum while a busy worker makes the call.",
    '',
    '| call | wall ms | calling thread CPU ms | main event-loop delay, max ms |',
    '| --- | ---: | ---: | ---: |',
    timing('stop() + start() on main', (c) => c.mainRestart),
    timing('getFuncStats() on main', (c) => c.mainRead),
    timing('stop() + start() from a worker', (c) => c.workerRestart),
    timing('getFuncStats() from a worker', (c) => c.workerRead),
    '',
  ].join('\n')
}

export function deoptSection(runs: ServerRun[][], load: string): string {
  const rows = DEOPT_MODES.map((mode, m) => {
    const mine = runs.map((rep) => rep[m])
    const vs = (of: (r: ServerRun) => number) => (m === 0 ? '—' : `${range(paired(runs, m, 0, of), 3)}×`)
    const us = (of: (r: ServerRun) => number) => `${(1000 * median(mine.map(of))).toFixed(0)} µs`
    return `| ${mode} | ${median(mine.map((r) => r.firstSecondRps!)).toFixed(0)} | ${vs((r) => r.firstSecondRps!)} | ${median(mine.map((r) => r.nextTwoSecondsRps!)).toFixed(0)} | ${vs((r) => r.nextTwoSecondsRps!)} | ${us((r) => r.rewarmCpuPerRequestMs!)} | ${vs((r) => r.rewarmCpuPerRequestMs!)} | ${us((r) => r.steadyCpuPerRequestMs!)} | ${vs((r) => r.steadyCpuPerRequestMs!)} |`
  })
  const onOverOff = paired(runs, 1, 2, (r) => r.firstSecondRps!)
  const cpuOnOverOff = paired(runs, 1, 2, (r) => r.rewarmCpuPerRequestMs!)
  return [
    '## The price of `deoptimize` (issue 11)',
    '',
    `Load average ${load}; ${runs.length} repetitions, Node ${process.version}. The server above, warmed by ${WARMUP} requests without a profiler; then \`start({ intervalUs: 1000, deoptimize })\` (or nothing: \`restart none\`) and at once ${DEOPT_REQUESTS} requests (the first ${REWARM_REQUESTS} timed apart on main's CPU clock). Requests/s on the clients' clock, first second after start() and the two after it; paired ratios to \`restart none\` (min to max). Reproduce: \`npm run bench -- --only=deoptimize --reps=${runs.length}\`.`,
    '',
    `| mode | first second, req/s | vs restart none | seconds 1–3, req/s | vs restart none | main CPU per request, first ${REWARM_REQUESTS} | vs restart none | main CPU per request, the rest | vs restart none |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
    '',
    `deoptimize on ÷ off: requests/s in the first second ${range(onOverOff, 3)}×; main-thread CPU per request over the first ${REWARM_REQUESTS} requests ${range(cpuOnOverOff, 3)}×. The wall-clock columns follow the machine's load; the CPU columns barely do.`,
    '',
  ].join('\n')
}

if (!isMainThread) worker()
else if (process.argv[2] === '--measured') void measured(process.argv[3] as Mode)
