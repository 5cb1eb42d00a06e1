import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { median } from './measure'
import type { ChildResult } from './overhead-child'
import { CONFIGS, type ProfilerConfig, type ProfilerReport } from './profilers'
import { WORKLOADS, type Size, type Workload } from './workloads'

const CHILD = path.join(__dirname, 'overhead-child.js')
const CHILD_TIMEOUT_MS = 240_000

/** One repetition of one workload under one configuration. */
export interface Run {
  ms: number
  cpuMs: number
  units: number
  startMs: number
  report?: ProfilerReport
}

/** Every repetition of one workload under one configuration. */
export interface Cell {
  config: ProfilerConfig
  unsupported?: string
  runs: Run[]
  /** Per repetition: this run's CPU time over the baseline's CPU time in the same repetition. */
  pairedRatios: number[]
  /** The same with wall time, which a busy shared machine disturbs far more. */
  pairedWallRatios: number[]
}

export interface WorkloadResult {
  workload: Workload
  cells: Cell[]
}

export interface OverheadResults {
  reps: number
  rows: WorkloadResult[]
  /** A `.cpuprofile` of the tsc workload written by `--cpu-prof`, kept for the engine section. */
  tscProfile?: string
}

/** Runs one child: a fresh process, the configuration's flags, a temporary directory for its output. */
export async function runChild(workload: string, config: ProfilerConfig, size: Size, dir: string): Promise<ChildResult> {
  fs.mkdirSync(dir, { recursive: true })
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [workload, config.name, size], {
      cwd: dir,
      execArgv: config.execArgv(dir),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      timeout: CHILD_TIMEOUT_MS,
    })
    let stderr = ''
    let result: (ChildResult & { error?: string }) | undefined
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('message', (message) => (result = message as ChildResult & { error?: string }))
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      if (result?.error) reject(new Error(`${workload} / ${config.name}: ${result.error}`))
      else if (!result || code !== 0) reject(new Error(`${workload} / ${config.name}: exit ${code ?? signal}, no result. ${stderr.slice(-2000)}`))
      else resolve(result)
    })
  })
}

/** The biggest `.cpuprofile` in `dir` (the main thread's), if any. */
function findCpuprofile(dir: string): string | undefined {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))
  files.sort((a, b) => fs.statSync(path.join(dir, b)).size - fs.statSync(path.join(dir, a)).size)
  return files.length > 0 ? path.join(dir, files[0]) : undefined
}

/**
 * Interleaves configurations across repetitions (A B C … A B C …, the order rotated each
 * repetition) so slow drifts of a shared machine hit every configuration alike.
 */
export async function measureOverhead(size: Size, reps: number, outDir: string, log: (line: string) => void, only?: string[]): Promise<OverheadResults> {
  const workloads = WORKLOADS.filter((w) => !only || only.includes(w.name))
  const rows: WorkloadResult[] = workloads.map((workload) => ({
    workload,
    cells: CONFIGS.map((config) => ({ config, runs: [], pairedRatios: [], pairedWallRatios: [] })),
  }))
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-bench-'))
  let tscProfile: string | undefined
  try {
    for (let rep = 0; rep < reps; rep++) {
      for (const row of rows) {
        const times = new Map<string, Run>()
        for (let k = 0; k < row.cells.length; k++) {
          const cell = row.cells[(k + rep) % row.cells.length]
          if (cell.unsupported || (cell.config.heavy && size === 'quick' && rep > 0)) continue
          const dir = path.join(scratch, `${row.workload.name.replace(/\W/g, '_')}-${cell.config.name.replace(/\W/g, '_')}-${rep}`)
          const result = await runChild(row.workload.name, cell.config, size, dir)
          if (result.unsupported) {
            cell.unsupported = result.unsupported
            log(`  ${row.workload.name} / ${cell.config.name}: n/a (${result.unsupported})`)
            continue
          }
          const run = { ms: result.ms ?? NaN, cpuMs: result.cpuMs ?? NaN, units: result.units ?? 0, startMs: result.startMs ?? NaN, report: result.report }
          cell.runs.push(run)
          times.set(cell.config.name, run)
          if (row.workload.name === 'tsc' && cell.config.name === '--cpu-prof' && !tscProfile) {
            const found = findCpuprofile(dir)
            if (found) {
              tscProfile = path.join(outDir, 'tsc.cpuprofile')
              fs.copyFileSync(found, tscProfile)
            }
          }
          fs.rmSync(dir, { recursive: true, force: true })
        }
        const base = times.get('none')
        for (const cell of row.cells) {
          const run = times.get(cell.config.name)
          if (base === undefined || run === undefined) continue
          cell.pairedRatios.push(run.cpuMs / base.cpuMs)
          cell.pairedWallRatios.push(run.ms / base.ms)
        }
        log(`  rep ${rep + 1}/${reps} ${row.workload.name} (cpu/wall ms): ${[...times].map(([name, r]) => `${name} ${r.cpuMs.toFixed(0)}/${r.ms.toFixed(0)}`).join(', ')}`)
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  return { reps, rows, tscProfile }
}

/** Median CPU time of a cell's runs, ms. */
export function medianCpuMs(cell: Cell): number {
  return median(cell.runs.map((r) => r.cpuMs))
}

/** Median wall time of a cell's runs, ms. */
export function medianMs(cell: Cell): number {
  return median(cell.runs.map((r) => r.ms))
}

/** Median of the paired CPU-time ratios to the baseline: the slowdown. */
export function slowdown(cell: Cell): number {
  return median(cell.pairedRatios)
}

/** Median of the paired wall-time ratios to the baseline. */
export function wallSlowdown(cell: Cell): number {
  return median(cell.pairedWallRatios)
}
