import * as path from 'node:path'

import { YappiError, describe } from './errors'
import { readOrRefuse, readPlainObject } from './input'
import type { ClockType } from './options'
import type { FuncStat, SortKey, SortOrder, ThreadStat } from './rows'

/** A column of the function table. */
export type Column = 'name' | 'module' | 'line' | 'ncall' | 'nactualcall' | 'ttot' | 'tsub' | 'tavg' | 'samples' | 'samplesTotal'

/** How {@link FuncStats.print} and {@link FuncStats.format} lay out a table. */
export interface PrintOptions {
  /** Print at most this many rows. */
  limit?: number
  /**
   * Columns, in order, each with an optional width (3 to 1000 characters). Default: name,
   * module, line, ncall, ttot, tsub, tavg, samples, samplesTotal. Without a width, `name` and
   * `module` are as wide as their longest cell up to 32 and 40 characters.
   */
  columns?: (Column | [Column, number])[]
  /** Where to write; default `process.stdout`. What its `write` throws, `print` throws. */
  out?: {
    /** Called with the whole table. */
    write(text: string): unknown
  }
}

/** Where a table goes, read once from {@link PrintOptions.out}. */
export type TableOutput = (text: string) => void

/** Fixed widths, and for `name` and `module` the widest they grow to when no width is given. */
const WIDTHS: Record<Column, number> = {
  name: 32,
  module: 40,
  line: 5,
  ncall: 8,
  nactualcall: 11,
  ttot: 10,
  tsub: 10,
  tavg: 10,
  samples: 7,
  samplesTotal: 12,
}
const GROWING: ReadonlySet<Column> = new Set(['name', 'module'])
const MAX_WIDTH = 1000
const DEFAULT_COLUMNS: Column[] = ['name', 'module', 'line', 'ncall', 'ttot', 'tsub', 'tavg', 'samples', 'samplesTotal']
const NUMERIC: ReadonlySet<Column> = new Set(['line', 'ncall', 'nactualcall', 'ttot', 'tsub', 'tavg', 'samples', 'samplesTotal'])
const TIMES: ReadonlySet<Column> = new Set(['ttot', 'tsub', 'tavg'])
/** Cells that depend on a call count: blank for rows whose calls are not counted at all. */
const PER_CALL: ReadonlySet<Column> = new Set(['ncall', 'nactualcall', 'tavg'])
const CUT = '...'

/** Keeps the end of a long name, marking the cut. */
function fitName(text: string, width: number): string {
  return text.length <= width ? text : `${CUT}${text.slice(text.length - width + CUT.length)}`
}

const PACKAGES = /[\\/]node_modules[\\/]/g

/**
 * A module as a reader finds it: a file of a package as `package/file` (`@scope/package/file`
 * for scoped ones), a file under the working directory relative to it, any other file by its
 * absolute path, URLs (`node:`, `wasm://`, …) as they are.
 */
export function displayModule(module: string, cwd = process.cwd()): string {
  if (!path.isAbsolute(module)) return module
  const packages = [...module.matchAll(PACKAGES)]
  if (packages.length > 0) {
    const last = packages[packages.length - 1]
    return module.slice(last.index + last[0].length).replaceAll('\\', '/')
  }
  const relative = path.relative(cwd, module)
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? module : relative.replaceAll('\\', '/')
}

/**
 * Shortens a path to `width` by leaving out whole directories from the left (a package's
 * name stays first): `marked/.../Instance.ts`, never a cut inside a name. A file name longer
 * than the width is kept whole and widens its row.
 */
function fitPath(text: string, width: number): string {
  if (text.length <= width) return text
  const parts = text.split('/')
  const keep = text.startsWith('@') ? 2 : text.includes('://') ? 0 : 1
  const head = parts.length > keep + 1 ? parts.slice(0, keep) : []
  for (let from = head.length + 1; from < parts.length; from++) {
    const fitted = [...head, CUT, ...parts.slice(from)].join('/')
    if (fitted.length <= width) return fitted
  }
  return [CUT, parts[parts.length - 1]].join('/')
}

/** Seconds with as many decimals as fit the width (yappi's `_fft`). */
export function formatSeconds(seconds: number, width: number): string {
  for (let digits = 6; digits > 0; digits--) {
    const text = seconds.toFixed(digits)
    if (text.length <= width) return text
  }
  return seconds.toFixed(0)
}

function checkWidth(column: string, width: unknown): number {
  if (!Number.isInteger(width) || (width as number) < 3 || (width as number) > MAX_WIDTH) {
    throw new YappiError(`width of column ${column} must be a whole number from 3 to ${MAX_WIDTH}, not ${describe(width)}`)
  }
  return width as number
}

/** The columns and their widths; `undefined` for a column that grows with its cells. */
function resolveColumns(columns: unknown): [Column, number | undefined][] {
  if (columns === undefined) return DEFAULT_COLUMNS.map((column) => [column, GROWING.has(column) ? undefined : WIDTHS[column]])
  const entries = readOrRefuse('columns', () => (Array.isArray(columns) ? columns.map((entry: unknown) => (Array.isArray(entry) ? [...entry] : entry)) : undefined))
  if (!entries || entries.length === 0) {
    throw new YappiError(`columns must be a non-empty list of column names, not ${describe(columns)}`)
  }
  return entries.map((entry: unknown) => {
    const [column, width] = Array.isArray(entry) ? entry : [entry, undefined]
    if (typeof column !== 'string' || !Object.hasOwn(WIDTHS, column)) {
      throw new YappiError(`unknown column ${describe(column)}; columns: ${Object.keys(WIDTHS).join(', ')}`)
    }
    if (width !== undefined || Array.isArray(entry)) return [column as Column, checkWidth(column, width)]
    return [column as Column, GROWING.has(column as Column) ? undefined : WIDTHS[column as Column]]
  })
}

function resolveLimit(limit: unknown): number {
  if (limit === undefined) return Infinity
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0) {
    throw new YappiError(`limit must be a whole number >= 0, not ${describe(limit)}`)
  }
  return limit
}

export function resolveOutput(out: unknown): TableOutput {
  if (out === undefined) return (text) => process.stdout.write(text)
  const write = readOrRefuse('out', () => (out !== null && (typeof out === 'object' || typeof out === 'function') ? (out as { write?: unknown }).write : undefined))
  if (typeof write !== 'function') throw new YappiError(`out must be an object with a write(text) method, like a stream, not ${describe(out)}`)
  return (text) => {
    write.call(out, text)
  }
}

/** Print options read once: the rows, the columns and where the table goes. */
export interface TableLayout {
  limit: number
  columns: [Column, number | undefined][]
  output: TableOutput
}

/** Reads {@link PrintOptions} (without `columns` for the thread table). */
export function resolveLayout(options: unknown, withColumns = true): TableLayout {
  const allowed = withColumns ? ['limit', 'columns', 'out'] : ['limit', 'out']
  const given = options === undefined ? {} : readPlainObject(options, { name: 'options', key: 'print option', allowed })
  return { limit: resolveLimit(given.limit), columns: resolveColumns(given.columns), output: resolveOutput(given.out) }
}

/** Which rows have an exact value in a count column: all, none or some. */
type Exactness = 'all' | 'none' | 'some'

/** Columns whose values are estimates unless counts are exact: `tavg` divides by `ncall`. */
type EstimatedColumn = 'ncall' | 'nactualcall' | 'tavg'
const ESTIMATED: ReadonlySet<Column> = new Set<EstimatedColumn>(['ncall', 'nactualcall', 'tavg'])

function isExact(stat: FuncStat, column: EstimatedColumn): boolean {
  return column === 'ncall' ? stat.callsExact : column === 'nactualcall' ? stat.nactualcallExact : stat.tavgExact
}

/** V8's `(program)` and `(garbage collector)` are not functions that are called: they have no calls to count. */
function hasCalls(stat: FuncStat): boolean {
  return stat.kind !== 'program' && stat.kind !== 'gc'
}

function exactness(stats: FuncStat[], column: EstimatedColumn): Exactness {
  const counted = stats.filter(hasCalls)
  const exact = counted.filter((stat) => isExact(stat, column)).length
  return counted.length > 0 && exact === counted.length ? 'all' : exact === 0 ? 'none' : 'some'
}

/** `ncall~` heads a column of estimates; in a mixed column each estimate carries its own `~`. */
function title(column: Column, stats: FuncStat[]): string {
  return ESTIMATED.has(column) && exactness(stats, column as EstimatedColumn) === 'none' ? `${column}~` : column
}

/** A cell's text, before it is fitted to a width (times are fitted as they are formatted). */
function cell(stat: FuncStat, column: Column, width: number | undefined, mixed: ReadonlySet<Column>): string {
  if (PER_CALL.has(column) && !hasCalls(stat)) return ''
  if (column === 'module') return displayModule(stat.module)
  if (column === 'line') return stat.line > 0 ? String(stat.line) : ''
  const value = stat[column]
  const marked = mixed.has(column) && !isExact(stat, column as EstimatedColumn)
  if (TIMES.has(column)) {
    const digits = width ?? WIDTHS[column]
    return marked ? `${formatSeconds(value as number, digits - 1)}~` : formatSeconds(value as number, digits)
  }
  return marked ? `${value}~` : String(value)
}

function fit(text: string, column: Column, width: number): string {
  if (column === 'module') return fitPath(text, width)
  if (column === 'name') return fitName(text, width)
  // Numbers are never cut: a wider one widens its row instead of showing other digits.
  return text
}

function legend(stats: FuncStat[], columns: Column[]): string[] {
  const calls = {
    all: 'ncall: exact call counts (precise coverage); times in seconds',
    some: 'ncall: exact call counts, except values marked ~ (estimated from samples); times in seconds',
    none: 'ncall~: estimated from samples, a lower bound (tavg~ an upper bound); times in seconds',
  }[exactness(stats, 'ncall')]
  const samples = columns.includes('samples') || columns.includes('samplesTotal')
  return samples ? [calls, 'samples: with the function on top of the stack (its self time); samplesTotal: anywhere on the stack'] : [calls]
}

function row(cells: string[], columns: [Column, number][]): string {
  return columns
    .map(([column, width], i) => (NUMERIC.has(column) ? cells[i].padStart(width) : cells[i].padEnd(width)))
    .join('  ')
    .trimEnd()
}

/** Joins a table's lines; a table too large for one string is refused, not thrown as a RangeError. */
function joinTable(lines: string[]): string {
  try {
    return `${lines.join('\n')}\n`
  } catch (error) {
    if (!(error instanceof RangeError)) throw error
    throw new YappiError(`the table (${lines.length} lines) is too large to make one string: print fewer rows (limit) or narrower columns`)
  }
}

export interface TableContext {
  clock: ClockType
  sortedBy: { key: SortKey | 'custom'; order: SortOrder }
  /** Samples dropped for want of memory: the table then says the stats are partial. */
  droppedSamples: number
}

export function formatFuncTable(stats: FuncStat[], context: TableContext, layout: TableLayout): string {
  const shown = stats.slice(0, layout.limit)
  const mixed = new Set<Column>((['ncall', 'nactualcall', 'tavg'] as const).filter((column) => exactness(stats, column) === 'some'))
  const titles = layout.columns.map(([column]) => title(column, stats))
  const texts = shown.map((stat) => layout.columns.map(([column, width]) => cell(stat, column, width, mixed)))
  const columns = layout.columns.map(([column, width], i): [Column, number] => {
    const widest = width ?? texts.reduce((most, cells) => Math.max(most, cells[i].length), 0)
    return [column, Math.max(titles[i].length, Math.min(widest, width ?? WIDTHS[column]))]
  })
  const lines = [
    `Clock type: ${context.clock.toUpperCase()}`,
    `Ordered by: ${context.sortedBy.key}, ${context.sortedBy.order}`,
    ...legend(stats, columns.map(([column]) => column)),
    ...(context.droppedSamples > 0
      ? [`PARTIAL: ${context.droppedSamples} samples dropped, the memory budget (maxMemoryBytes) was full; see getMemUsage()`]
      : []),
    '',
    row(titles, columns),
  ]
  for (const cells of texts) lines.push(row(cells.map((text, i) => fit(text, columns[i][0], columns[i][1])), columns))
  if (stats.length > layout.limit) lines.push(`... ${stats.length - layout.limit} more`)
  return joinTable(lines)
}

export function formatThreadTable(threads: ThreadStat[], clock: ClockType, layout: TableLayout): string {
  const header = ['name'.padEnd(20), 'id'.padStart(4), 'wall'.padStart(10), 'cpu'.padStart(10), 'idle'.padStart(10), 'samples'.padStart(8)]
  const estimated = threads.some((thread) => thread.cpuTimeEstimated > 0)
  const lines = [`Clock type: ${clock.toUpperCase()}; times in seconds${estimated ? '; ~cpu: partly estimated from busy wall time' : ''}`, '', header.join('  ')]
  for (const thread of threads.slice(0, layout.limit)) {
    lines.push(
      [
        fitName(thread.name, 20).padEnd(20),
        String(thread.id).padStart(4),
        formatSeconds(thread.wallTime, 10).padStart(10),
        `${thread.cpuTimeEstimated > 0 ? '~' : ''}${formatSeconds(thread.cpuTime, 10)}`.padStart(10),
        formatSeconds(thread.idleTime, 10).padStart(10),
        String(thread.samples).padStart(8),
      ].join('  '),
    )
  }
  return joinTable(lines)
}
