// Builds files in yappi-node's `json` stats format with known contents: functions of given
// names, each with known self time and calls on given threads, so loading and filtering can be
// checked against exact numbers without profiling anything.

export interface KnownFunction {
  name: string
  module?: string
  /** Self time (= total time) in nanoseconds, and calls. */
  selfNs: number
  calls: number
}

export interface KnownThread {
  id: number
  functions: KnownFunction[]
}

function stats(fn: KnownFunction): Record<string, number> {
  const samples = Math.max(1, Math.round(fn.selfNs / 1e6))
  return { ncall: fn.calls, nactual: fn.calls, ttot_ns: fn.selfNs, tsub_ns: fn.selfNs, samples, samples_total: samples }
}

/** A report whose every function is an outermost frame: self time is total time. */
export function savedReport(threads: KnownThread[]): Record<string, unknown> {
  const functions: Record<string, unknown>[] = []
  const index = new Map<string, number>()
  const indexOf = (fn: KnownFunction): number => {
    const key = `${fn.module ?? '/app/known.js'}:${fn.name}`
    if (!index.has(key)) {
      index.set(key, functions.length)
      functions.push({ name: fn.name, module: fn.module ?? '/app/known.js', line: 1 + functions.length, column: 1, kind: 'user' })
    }
    return index.get(key)!
  }
  return {
    format: 'yappi-node-stats',
    version: 1,
    clock: 'wall',
    functions,
    threads: threads.map((thread) => {
      const wall = thread.functions.reduce((sum, fn) => sum + fn.selfNs, 0)
      const samples = thread.functions.reduce((sum, fn) => sum + stats(fn).samples, 0)
      return {
        id: thread.id,
        name: thread.id === 0 ? 'main' : `worker ${thread.id}`,
        totals: { wall_ns: wall, cpu_ns: wall, cpu_estimated_ns: 0, samples, idle_ns: 0, idle_samples: 0, profiles: 1, dropped_samples: 0 },
        funcs: thread.functions.map((fn) => [indexOf(fn), stats(fn)]),
        edges: [],
        stacks: thread.functions.map((fn) => [0, indexOf(fn), stats(fn)]),
      }
    }),
  }
}
