import { AsyncLocalStorage } from 'node:async_hooks'

/** What a profiler reports about itself at the end of a run, besides the time measured outside. */
export interface ProfilerReport {
  /** Time to read the results once at the end (getFuncStats, stop + encode), ms. */
  readMs: number
  /** Functions in the stats (yappi only). */
  functions?: number
  /** `getOverhead()`'s percentage, when the API has it. */
  selfReportedPct?: number
  /** `getOverhead()`'s answer as it came, for the record. */
  selfReported?: unknown
}

/** A profiler running in the child around the workload. */
export interface RunningProfiler {
  /** Reads the results once, as a user would, then stops. */
  finish(): Promise<ProfilerReport>
}

/** One configuration of the overhead table. */
export interface ProfilerConfig {
  name: string
  what: string
  /** Node flags of the child process (`dir` is a fresh temporary directory for its output). */
  execArgv(dir: string): string[]
  /** Starts in-process profiling in the child; undefined when the flags do it all. */
  start?(): RunningProfiler
  /** Expected to be many times slower (exact counts switch the optimizer off): quick mode runs it once. */
  heavy?: boolean
}

/** Thrown in the child when this build of yappi-node lacks the feature a configuration needs. */
export class NotSupported extends Error {}

type Yappi = typeof import('../index')

function loadYappi(): Yappi {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('../index')
}

/** Pulls a percentage out of `getOverhead()`, whose exact shape another branch decides. */
export function overheadPercent(report: unknown): number | undefined {
  if (typeof report === 'number') return report
  if (report === null || typeof report !== 'object') return undefined
  const record = report as Record<string, unknown>
  for (const key of ['percent', 'percentage', 'overheadPercent', 'pct']) {
    if (typeof record[key] === 'number') return record[key] as number
  }
  for (const key of ['total', 'process', 'main', 'overall']) {
    const nested = overheadPercent(record[key])
    if (nested !== undefined) return nested
  }
  if (Array.isArray(report) && report.length > 0) return overheadPercent(report[0])
  return undefined
}

function startYappi(options: Record<string, unknown>, tagged = false): RunningProfiler {
  const yappi = loadYappi() as Yappi & Record<string, unknown>
  if (tagged) {
    const setTagCallback = yappi.setTagCallback
    if (typeof setTagCallback !== 'function') throw new NotSupported('setTagCallback() is not in this build')
    const storage = new AsyncLocalStorage<string>()
    setTagCallback(() => storage.getStore())
    storage.enterWith('bench')
  }
  try {
    yappi.start(options)
  } catch (error) {
    if (error instanceof yappi.YappiError && /unknown option/i.test(error.message)) throw new NotSupported(error.message)
    throw error
  }
  return {
    async finish() {
      const start = process.hrtime.bigint()
      const stats = yappi.getFuncStats()
      const readMs = Number(process.hrtime.bigint() - start) / 1e6
      const getOverhead = yappi.getOverhead
      const selfReported = typeof getOverhead === 'function' ? getOverhead() : undefined
      yappi.stop()
      return { readMs, functions: stats.toArray().length, selfReported, selfReportedPct: overheadPercent(selfReported) }
    },
  }
}

function startDatadog(): RunningProfiler {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const pprof = require('@datadog/pprof') as typeof import('@datadog/pprof')
  pprof.time.start({ intervalMicros: 1000 })
  return {
    async finish() {
      const start = process.hrtime.bigint()
      const profile = pprof.time.stop()
      const encoded = pprof.encodeSync(profile)
      const readMs = Number(process.hrtime.bigint() - start) / 1e6
      if (encoded.length === 0) throw new Error('@datadog/pprof produced an empty profile')
      return { readMs }
    },
  }
}

const noFlags = () => []

export const CONFIGS: readonly ProfilerConfig[] = [
  { name: 'none', what: 'no profiler (baseline)', execArgv: noFlags },
  { name: 'yappi 1ms', what: 'yappi-node start({ intervalUs: 1000 }), getFuncStats() at the end', execArgv: noFlags, start: () => startYappi({ intervalUs: 1000 }) },
  { name: 'yappi 100µs', what: 'yappi-node start({ intervalUs: 100 })', execArgv: noFlags, start: () => startYappi({ intervalUs: 100 }) },
  { name: 'yappi exact', what: "yappi-node start({ intervalUs: 1000, counts: 'exact' })", execArgv: noFlags, start: () => startYappi({ intervalUs: 1000, counts: 'exact' }), heavy: true },
  { name: 'yappi tags', what: 'yappi-node setTagCallback(ALS getStore) + start({ intervalUs: 1000 })', execArgv: noFlags, start: () => startYappi({ intervalUs: 1000 }, true) },
  { name: '--cpu-prof', what: 'node --cpu-prof (1 ms, V8 default), profile written at exit', execArgv: (dir) => ['--cpu-prof', '--cpu-prof-dir', dir] },
  { name: '--cpu-prof 100µs', what: 'node --cpu-prof --cpu-prof-interval 100', execArgv: (dir) => ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-interval', '100'] },
  { name: '@datadog/pprof', what: '@datadog/pprof time profiler, intervalMicros 1000, stop + encode at the end', execArgv: noFlags, start: startDatadog },
  { name: '--prof', what: "node --prof (V8's tick profiler, log written to a temp dir)", execArgv: (dir) => ['--prof', `--logfile=${dir}/v8.log`, '--no-logfile-per-isolate'] },
]

export function configNamed(name: string): ProfilerConfig {
  const found = CONFIGS.find((c) => c.name === name)
  if (!found) throw new Error(`unknown profiler configuration ${name}`)
  return found
}
