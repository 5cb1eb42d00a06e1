import type * as yappi from '../../index'

/**
 * A function's total time and its callers' self time: V8 charges a sample now and then to the
 * caller of the running function (its frame lost in a fast API call such as `process.hrtime`,
 * or in code being optimized on the stack). For a function whose callers only call it, this
 * is the time it took.
 */
export function withCallersSelf(stats: yappi.FuncStats, name: string): number {
  const row = stats.find(name)
  if (!row) return 0
  const rows = stats.toArray()
  return row.ttot + row.callers.reduce((sum, edge) => sum + (rows.find((caller) => caller.id === edge.id)?.tsub ?? 0), 0)
}
