import { YappiError, describe } from './errors'
import type { ClockType } from './options'
import type { FuncStat, SortKey, SortOrder, ThreadStat } from './stats'

/** A column of the function table. */
export type Column = 'name' | 'module' | 'line' | 'ncall' | 'nactualcall' | 'ttot' | 'tsub' | 'tavg' | 'samples'

/** How {@link FuncStats.print} and {@link FuncStats.format} lay out a table. */
export interface PrintOptions {
  /** Print at most this many rows. */
  limit?: number
  /** Columns, in order, each with an optional width. Default: name, module, line, ncall, ttot, tsub, tavg, samples. */
  columns?: (Column | [Column, number])[]
  /** Where to write; default `process.stdout`. */
  out?: {
    /** Called with the whole table. */
    write(text: string): unknown
  }
}

const WIDTHS: Record<Column, number> = {
  name: 32,
  module: 36,
  line: 6,
  ncall: 9,
  nactualcall: 9,
  ttot: 10,
  tsub: 10,
  tavg: 10,
  samples: 8,
}
const DEFAULT_COLUMNS: Column[] = ['name', 'module', 'line', 'ncall', 'ttot', 'tsub', 'tavg', 'samples']
const NUMERIC: ReadonlySet<Column> = new Set(['line', 'ncall', 'nactualcall', 'ttot', 'tsub', 'tavg', 'samples'])
const TIMES: ReadonlySet<Column> = new Set(['ttot', 'tsub', 'tavg'])

/** Keeps the end of a long text (file names end in what matters), marking the cut with `..`. */
function fit(text: string, width: number): string {
  return text.length <= width ? text : `..${text.slice(text.length - width + 2)}`
}

/** Seconds with as many decimals as fit the width (yappi's `_fft`). */
export function formatSeconds(seconds: number, width: number): string {
  for (let digits = 6; digits > 0; digits--) {
    const text = seconds.toFixed(digits)
    if (text.length <= width) return text
  }
  return seconds.toFixed(0)
}

function resolveColumns(columns: PrintOptions['columns']): [Column, number][] {
  if (columns === undefined) return DEFAULT_COLUMNS.map((column) => [column, WIDTHS[column]])
  if (!Array.isArray(columns) || columns.length === 0) {
    throw new YappiError(`columns must be a non-empty list of column names, not ${describe(columns)}`)
  }
  return columns.map((entry) => {
    const [column, width] = Array.isArray(entry) ? entry : [entry, WIDTHS[entry as Column]]
    if (!(column in WIDTHS)) throw new YappiError(`unknown column ${describe(column)}; columns: ${Object.keys(WIDTHS).join(', ')}`)
    if (!Number.isInteger(width) || width < 3) throw new YappiError(`width of column ${column} must be a whole number >= 3, not ${describe(width)}`)
    return [column, width]
  })
}

function resolveLimit(limit: unknown): number {
  if (limit === undefined) return Infinity
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw new YappiError(`limit must be a whole number >= 0, not ${describe(limit)}`)
  }
  return limit
}

/** Which rows have an exact value in a count column: all, none or some. */
type Exactness = 'all' | 'none' | 'some'

function isExact(stat: FuncStat, column: 'ncall' | 'nactualcall'): boolean {
  return column === 'ncall' ? stat.callsExact : stat.nactualcallExact
}

function exactness(stats: FuncStat[], column: 'ncall' | 'nactualcall'): Exactness {
  const exact = stats.filter((stat) => isExact(stat, column)).length
  return stats.length > 0 && exact === stats.length ? 'all' : exact === 0 ? 'none' : 'some'
}

/** `ncall~` heads a column of estimates; in a mixed column each estimate carries its own `~`. */
function title(column: Column, stats: FuncStat[]): string {
  const counts = column === 'ncall' || column === 'nactualcall'
  return counts && exactness(stats, column) === 'none' ? `${column}~` : column
}

function cell(stat: FuncStat, column: Column, width: number, mixed: ReadonlySet<Column>): string {
  const value = stat[column]
  if (TIMES.has(column)) return formatSeconds(value as number, width)
  if (mixed.has(column) && !isExact(stat, column as 'ncall' | 'nactualcall')) return fit(`${value}~`, width)
  return fit(String(value), width)
}

function legend(stats: FuncStat[]): string {
  switch (exactness(stats, 'ncall')) {
    case 'all':
      return 'ncall: exact call counts (precise coverage); times in seconds'
    case 'some':
      return 'ncall: exact call counts, except values marked ~ (estimated from samples); times in seconds'
    default:
      return 'ncall~: estimated from samples (calls seen between two samples); times in seconds'
  }
}

function row(cells: string[], columns: [Column, number][]): string {
  return columns
    .map(([column, width], i) => (NUMERIC.has(column) ? cells[i].padStart(width) : cells[i].padEnd(width)))
    .join('  ')
    .trimEnd()
}

export interface TableContext {
  clock: ClockType
  sortedBy: { key: SortKey | 'custom'; order: SortOrder }
  /** Samples dropped for want of memory: the table then says the stats are partial. */
  droppedSamples: number
}

export function formatFuncTable(stats: FuncStat[], context: TableContext, options: PrintOptions = {}): string {
  const columns = resolveColumns(options.columns)
  const limit = resolveLimit(options.limit)
  const mixed = new Set<Column>((['ncall', 'nactualcall'] as const).filter((column) => exactness(stats, column) === 'some'))
  const lines = [
    `Clock type: ${context.clock.toUpperCase()}`,
    `Ordered by: ${context.sortedBy.key}, ${context.sortedBy.order}`,
    legend(stats),
    ...(context.droppedSamples > 0
      ? [`PARTIAL: ${context.droppedSamples} samples dropped, the memory budget (maxMemoryBytes) was full; see getMemUsage()`]
      : []),
    '',
    row(columns.map(([column]) => title(column, stats)), columns),
  ]
  for (const stat of stats.slice(0, limit)) {
    lines.push(row(columns.map(([column, width]) => cell(stat, column, width, mixed)), columns))
  }
  if (stats.length > limit) lines.push(`... ${stats.length - limit} more`)
  return `${lines.join('\n')}\n`
}

export function formatThreadTable(threads: ThreadStat[], clock: ClockType, options: Omit<PrintOptions, 'columns'> = {}): string {
  const limit = resolveLimit(options.limit)
  const header = ['name'.padEnd(20), 'id'.padStart(4), 'wall'.padStart(10), 'cpu'.padStart(10), 'idle'.padStart(10), 'samples'.padStart(8)]
  const lines = [`Clock type: ${clock.toUpperCase()}; times in seconds; ~cpu: partly estimated from busy wall time`, '', header.join('  ')]
  for (const thread of threads.slice(0, limit)) {
    lines.push(
      [
        fit(thread.name, 20).padEnd(20),
        String(thread.id).padStart(4),
        formatSeconds(thread.wallTime, 10).padStart(10),
        `${thread.cpuTimeEstimated > 0 ? '~' : ''}${formatSeconds(thread.cpuTime, 10)}`.padStart(10),
        formatSeconds(thread.idleTime, 10).padStart(10),
        String(thread.samples).padStart(8),
      ].join('  '),
    )
  }
  return `${lines.join('\n')}\n`
}
