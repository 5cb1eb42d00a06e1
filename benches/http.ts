// What the HTTP endpoint costs a busy application: four workers doing CPU-bound units of work
// (JSON and sorting) while the main thread serves, profiled on every thread. Each run is a fresh
// process in one mode:
//
//   off     no profiler, no server
//   idle    the profiler running and serve() listening, nobody asking
//   scrape  a pprof scrape as Grafana Alloy makes it: profile?seconds=14 every 15 s
//   page    the live page open: its files and flame graph once, then its refresh every 2 s
//
// The clients run in this (parent) process, not in the measured one. Modes are interleaved in
// each repetition in a rotated order. Costs are read on CPU clocks, which other tenants of a
// shared machine barely move: the main thread's CPU time, where the server's own work lands
// (ms per second of run), and the process's CPU time per unit of the workers' work, as the
// median over repetitions of its paired ratio to `idle` in the same repetition. The workers'
// throughput on the wall clock is printed too, but it follows the machine's load.
//
//   npm run bench:http [-- reps [seconds]]      (default 3 repetitions of 30 s)
import { fork } from 'node:child_process'
import * as http from 'node:http'
import { Worker, isMainThread, workerData } from 'node:worker_threads'

import * as yappi from '../index'
import { native } from '../src/native'
import { busyWorker, unitsDone as countUnits } from './busy-unit'
import { median } from './measure'

const MODES = ['off', 'idle', 'scrape', 'page'] as const
type Mode = (typeof MODES)[number]
const WORKERS = 4
const SCRAPE_EVERY_MS = 15_000
const SCRAPE_SECONDS = 14
const PAGE_REFRESH_MS = 2_000

interface RunResult {
  mode: Mode
  wallMs: number
  units: number
  mainCpuMs: number
  processCpuMs: number
  requests: number
  failed: number
  bytes: number
}

// ---- the measured process ------------------------------------------------------------------

const unitsDone = (counts: Int32Array) => countUnits(counts, WORKERS)
const processCpuMs = () => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

function nextMessage(): Promise<string> {
  return new Promise((resolve) => process.once('message', (message) => resolve(String(message))))
}

async function measured(mode: Mode): Promise<void> {
  if (mode !== 'off') yappi.start()
  const counts = new Int32Array(new SharedArrayBuffer(4 * (1 + WORKERS)))
  const workers = Array.from({ length: WORKERS }, (_, index) => new Worker(__filename, { name: `busy-${index}`, workerData: { counts, index } }))
  while (unitsDone(counts) < WORKERS) await new Promise((resolve) => setTimeout(resolve, 20))
  const server = mode === 'off' ? undefined : await yappi.serve()
  process.send!({ port: server?.port ?? 0 })
  await nextMessage()
  const [units0, main0, process0, wall0] = [unitsDone(counts), (native.threadCpuTimeNs() ?? NaN), processCpuMs(), process.hrtime.bigint()]
  await nextMessage()
  const [units1, main1, process1, wall1] = [unitsDone(counts), (native.threadCpuTimeNs() ?? NaN), processCpuMs(), process.hrtime.bigint()]
  Atomics.store(counts, 0, 1)
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))))
  await server?.close()
  yappi.stop()
  process.send!({ wallMs: Number(wall1 - wall0) / 1e6, units: units1 - units0, mainCpuMs: (main1 - main0) / 1e6, processCpuMs: process1 - process0 })
}

// ---- the clients (in the parent) -----------------------------------------------------------

interface Tally {
  requests: number
  failed: number
  bytes: number
}

/** One GET to the measured process; failures are counted, never thrown. */
function get(port: number, target: string, tally: Tally): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const body = Buffer.concat(chunks)
        tally.requests++
        tally.bytes += body.length
        if (res.statusCode !== 200) tally.failed++
        resolve(body.toString('utf8'))
      })
    })
    req.setTimeout((SCRAPE_SECONDS + 30) * 1000, () => req.destroy(new Error('timeout')))
    req.on('error', () => {
      tally.requests++
      tally.failed++
      resolve('')
    })
  })
}

/** Alloy's default: a 14 s window every 15 s, as long as the run lasts. */
async function scrape(port: number, untilMs: number, tally: Tally): Promise<void> {
  for (let at = Date.now(); at + SCRAPE_SECONDS * 1000 <= untilMs; at += SCRAPE_EVERY_MS) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())))
    await get(port, `/debug/pprof/profile?seconds=${SCRAPE_SECONDS}`, tally)
  }
}

/**
 * What `src/http/page/page.js` asks for: its files and the flame graph's export when opened,
 * then every refresh the six reads it makes at once and the calls of a selected row.
 */
async function page(port: number, untilMs: number, tally: Tally): Promise<void> {
  for (const file of ['/', '/assets/page.js', '/assets/page.css', '/assets/speedscope/index.html', '/api/export/speedscope']) await get(port, file, tally)
  while (Date.now() + PAGE_REFRESH_MS <= untilMs) {
    const next = Date.now() + PAGE_REFRESH_MS
    const [stats] = await Promise.all(
      ['/api/stats?sort=ttot&order=desc&limit=100', '/api/threads', '/api/tags', '/api/memory', '/api/overhead', '/api/status'].map((target) => get(port, target, tally)),
    )
    const top = (JSON.parse(stats || '{"functions":[]}') as { functions: { id: number }[] }).functions[0]
    if (top) await get(port, `/api/function?id=${top.id}`, tally)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())))
  }
}

async function runOnce(mode: Mode, durationMs: number): Promise<RunResult> {
  const child = fork(__filename, ['measured', mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const message = () => new Promise<Record<string, number>>((resolve, reject) => {
    child.once('message', (value) => resolve(value as Record<string, number>))
    child.once('exit', (code) => reject(new Error(`${mode}: the measured process exited (${code})`)))
  })
  try {
    const { port } = await message()
    const tally: Tally = { requests: 0, failed: 0, bytes: 0 }
    child.send('go')
    const untilMs = Date.now() + durationMs
    if (mode === 'scrape') await scrape(port, untilMs, tally)
    if (mode === 'page') await page(port, untilMs, tally)
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, untilMs - Date.now())))
    const done = message()
    child.send('stop')
    const result = await done
    return { mode, wallMs: result.wallMs, units: result.units, mainCpuMs: result.mainCpuMs, processCpuMs: result.processCpuMs, ...tally }
  } finally {
    child.kill()
  }
}

const pct = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)} %`


async function main(): Promise<void> {
  const reps = Number(process.argv[2] ?? 3)
  const durationMs = Number(process.argv[3] ?? 30) * 1000
  const runs: RunResult[][] = []
  for (let rep = 0; rep < reps; rep++) {
    const order = MODES.map((_, i) => MODES[(i + rep) % MODES.length])
    const byMode = {} as Record<Mode, RunResult>
    for (const mode of order) {
      byMode[mode] = await runOnce(mode, durationMs)
      console.error(`rep ${rep + 1}/${reps} ${mode}: ${(byMode[mode].units / (byMode[mode].wallMs / 1000)).toFixed(0)} units/s, main CPU ${byMode[mode].mainCpuMs.toFixed(0)} ms`)
    }
    runs.push(MODES.map((mode) => byMode[mode]))
  }
  const paired = (m: number, of: (run: RunResult) => number) => runs.map((rep) => 100 * (of(rep[m]) / of(rep[1]) - 1))
  const range = (values: number[]) => `${pct(median(values))} (${pct(Math.min(...values))} to ${pct(Math.max(...values))})`
  const mainMsPerS = (run: RunResult) => run.mainCpuMs / (run.wallMs / 1000)
  const cpuPerUnit = (run: RunResult) => run.processCpuMs / run.units
  const rows = MODES.map((mode, m) => {
    const mine = runs.map((rep) => rep[m])
    const mainDelta = runs.map((rep) => mainMsPerS(rep[m]) - mainMsPerS(rep[1]))
    const perRequest = runs.map((rep, i) => (mainDelta[i] * (rep[m].wallMs / 1000)) / rep[m].requests)
    return [
      mode,
      `${median(mine.map(mainMsPerS)).toFixed(1)} ms/s`,
      m === 0 ? '' : `${median(mainDelta) >= 0 ? '+' : ''}${median(mainDelta).toFixed(2)} ms/s`,
      m < 2 ? '' : `${median(perRequest).toFixed(1)} ms`,
      `${(1000 * median(mine.map(cpuPerUnit))).toFixed(0)} ms`,
      m === 0 ? '' : range(paired(m, cpuPerUnit)),
      median(mine.map((run) => run.units / (run.wallMs / 1000))).toFixed(0),
      `${median(mine.map((run) => run.requests))} (${median(mine.map((run) => run.failed))} failed), ${(median(mine.map((run) => run.bytes)) / 1024).toFixed(0)} KiB`,
    ]
  })
  console.log(`\nHTTP endpoint cost: ${WORKERS} busy workers, ${reps} repetitions of ${durationMs / 1000} s, Node ${process.version}, medians\n`)
  console.log('| mode | main thread CPU | vs idle | main CPU per request | process CPU per 1000 units | vs idle (min to max) | worker units/s (wall) | requests, received |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const row of rows) console.log(`| ${row.join(' | ')} |`)
}

if (!isMainThread) busyWorker((workerData as { counts: Int32Array }).counts, (workerData as { index: number }).index)
else if (process.argv[2] === 'measured') void measured(process.argv[3] as Mode)
else if (require.main === module) void main()
