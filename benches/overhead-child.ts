/**
 * One measurement: one workload under one profiler configuration, in a fresh process.
 * argv: workload, configuration, size. Sends one `ChildResult` to the parent over IPC.
 */
import { native } from '../src/native'
import { msSince } from './measure'
import { NotSupported, configNamed, type ProfilerReport } from './profilers'
import { workloadNamed, type Size } from './workloads'

export interface ChildResult {
  /** Why the configuration could not run here ("n/a" in the tables), if it could not. */
  unsupported?: string
  /** Wall time of the measured runs, ms. */
  ms?: number
  /** CPU time of the whole process (every thread, the profiler's too) over the measured runs, ms. */
  cpuMs?: number
  /** CPU time of the main thread alone over the measured runs, ms: the application's own slowdown. */
  mainCpuMs?: number
  /** Units of work done in the measured runs (requests for servers). */
  units?: number
  /** How long starting the profiler took, ms. */
  startMs?: number
  report?: ProfilerReport
}

const WARMUP_RUNS = 1

async function measure(workloadName: string, configName: string, size: Size): Promise<ChildResult> {
  const workload = workloadNamed(workloadName)
  const config = configNamed(configName)
  const session = await workload.open(size)
  try {
    const started = process.hrtime.bigint()
    let profiler
    try {
      profiler = config.start?.()
    } catch (error) {
      if (error instanceof NotSupported) return { unsupported: error.message }
      throw error
    }
    const startMs = msSince(started)
    for (let i = 0; i < WARMUP_RUNS; i++) await session.run()
    const runs = workload.runs[size]
    const begin = process.hrtime.bigint()
    const cpuBegin = process.cpuUsage()
    const mainBegin = (native.threadCpuTimeNs() ?? NaN)
    let units = 0
    for (let i = 0; i < runs; i++) units += await session.run()
    const mainCpuMs = ((native.threadCpuTimeNs() ?? NaN) - mainBegin) / 1e6
    const cpu = process.cpuUsage(cpuBegin)
    const ms = msSince(begin)
    const report = await profiler?.finish()
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, mainCpuMs, units, startMs, report }
  } finally {
    await session.close()
  }
}

const [workloadName, configName, size] = process.argv.slice(2)
measure(workloadName, configName, size === 'full' ? 'full' : 'quick').then(
  (result) => process.send?.(result, () => process.disconnect()),
  (error: unknown) => {
    process.send?.({ error: error instanceof Error ? (error.stack ?? error.message) : String(error) }, () => process.disconnect())
    process.exitCode = 1
  },
)
