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
/**
 * What a slowdown is measured on: the main thread's CPU time (the application's own slowdown,
 * immune to other tenants' load), the whole process's CPU time (adds the profilers' own
 * threads), or wall time (what a user on an idle machine would see).
 */
export type Metric = 'main' | 'process' | 'wall'
export const METRICS: readonly Metric[] = ['main', 'process', 'wall']

export interface Run {
  ms: number
  cpuMs: number
  mainCpuMs: number
  units: number
  startMs: number
  report?: ProfilerReport
}

/** Every repetition of one workload under one configuration. */
export interface Cell {
  config: ProfilerConfig
  unsupported?: string
  runs: Run[]
  /** Per metric and repetition: this run's cost over the baseline's in the same repetition. */
  paired: Record<Metric, number[]>
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
export async function measureOverhead(
  size: Size,
  reps: number,
  outDir: string,
  log: (line: string) => void,
  onlyWorkloads?: string[],
  onlyConfigs?: string[],
): Promise<OverheadResults> {
  const workloads = WORKLOADS.filter((w) => !onlyWorkloads || onlyWorkloads.includes(w.name))
  const configs = CONFIGS.filter((c) => c.name === 'none' || !onlyConfigs || onlyConfigs.includes(c.name))
  const rows: WorkloadResult[] = workloads.map((workload) => ({
    workload,
    cells: configs.map((config) => ({ config, runs: [], paired: { main: [], process: [], wall: [] } })),
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
          const run = { ms: result.ms ?? NaN, cpuMs: result.cpuMs ?? NaN, mainCpuMs: result.mainCpuMs ?? NaN, units: result.units ?? 0, startMs: result.startMs ?? NaN, report: result.report }
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
          for (const metric of METRICS) cell.paired[metric].push(cost(run, metric) / cost(base, metric))
        }
        log(`  rep ${rep + 1}/${reps} ${row.workload.name} (main cpu/process cpu/wall ms): ${[...times].map(([name, r]) => `${name} ${METRICS.map((m) => cost(r, m).toFixed(0)).join('/')}`).join(', ')}`)
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
  return { reps, rows, tscProfile }
}

export function cost(run: Run, metric: Metric): number {
  return metric === 'main' ? run.mainCpuMs : metric === 'process' ? run.cpuMs : run.ms
}

/** Median cost of a cell's runs, ms. */
export function medianCost(cell: Cell, metric: Metric): number {
  return median(cell.runs.map((r) => cost(r, metric)))
}

/** Median of the paired ratios to the baseline: the slowdown. */
export function slowdown(cell: Cell, metric: Metric): number {
  return median(cell.paired[metric])
}
