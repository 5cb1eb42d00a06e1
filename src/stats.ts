import type { BindingEncoded } from '../binding'
import { YappiError, describe } from './errors'
import { readOrRefuse, readPlainObject, resolveThreads, type Shape } from './input'
import { native } from './native'
import { recordFault } from './faults'
import type { ClockType } from './options'
import { absorbFile, detach, exportBuffer, saveTo, type ExportOptions, type SaveFormat, type StatsSource } from './saved'
import { formatFuncTable, formatThreadTable, resolveLayout, type PrintOptions, type TableLayout } from './table'
import type { CallEdge, CallNumbers, FuncKind, FuncStat, SortKey, SortOrder, ThreadStat } from './rows'
import {
  CLOCK_CODES,
  EDGE_FIELDS,
  EDGE_INTS,
  EXACT_NACTUAL,
  EXACT_NCALL,
  FORMAT_VERSION,
  FUNC_FIELDS,
  FUNC_INTS,
  FUNC_KIND_CODES,
  HEADER_LEN,
  TAG_FIELDS,
  TAG_HEADER_LEN,
  THREAD_FIELDS,
  THREAD_HEADER_LEN,
} from './wire'

export type { CallEdge, CallNumbers, FuncKind, FuncStat, SortKey, SortOrder, ThreadStat } from './rows'

const SORT_ALIASES: Record<string, SortKey> = {
  name: 'name',
  module: 'module',
  line: 'line',
  ncall: 'ncall',
  callcount: 'ncall',
  nactualcall: 'nactualcall',
  ttot: 'ttot',
  totaltime: 'ttot',
  tsub: 'tsub',
  subtime: 'tsub',
  tavg: 'tavg',
  avgtime: 'tavg',
  samples: 'samples',
  samplesTotal: 'samplesTotal',
}
const ORDER_ALIASES: Record<string, SortOrder> = { asc: 'asc', ascending: 'asc', desc: 'desc', descending: 'desc' }

/** An alias's meaning, case-insensitively; never a key every object has (`constructor`, `__proto__`). */
function alias<T>(aliases: Record<string, T>, name: unknown): T | undefined {
  if (typeof name !== 'string') return undefined
  const lower = name.toLowerCase()
  return Object.entries(aliases).find(([known]) => known.toLowerCase() === lower)?.[1]
}

export function resolveSort(key: unknown, order: unknown): [SortKey, SortOrder] {
  const sortKey = alias(SORT_ALIASES, key)
  if (!sortKey) {
    throw new YappiError(`cannot sort by ${describe(key)}; sort keys: ${Object.keys(SORT_ALIASES).join(', ')}`)
  }
  return [sortKey, resolveOrder(order)]
}

function resolveOrder(order: unknown): SortOrder {
  const sortOrder = alias(ORDER_ALIASES, order)
  if (!sortOrder) throw new YappiError(`sort order must be 'asc' or 'desc', not ${describe(order)}`)
  return sortOrder
}

/** Text keys sort as people read them (case-insensitive); one collator, built once, is fast. */
const NAME_ORDER = new Intl.Collator(undefined, { sensitivity: 'base' })

function compareBy<T extends CallNumbers & { name: string }>(key: SortKey, order: SortOrder): (a: T, b: T) => number {
  const sign = order === 'asc' ? 1 : -1
  return (a, b) => {
    const left = (a as unknown as Record<string, number | string>)[key]
    const right = (b as unknown as Record<string, number | string>)[key]
    const byKey =
      typeof left === 'string' && typeof right === 'string'
        ? NAME_ORDER.compare(left, right)
        : (left as number) - (right as number)
    return sign * byKey || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  }
}

/** Picks functions; a predicate that throws is recorded in `getFaults()`, never thrown at the caller. */
export type FuncPredicate = (stat: FuncStat) => boolean

/** Sorts by what this returns for each function (numbers or strings). */
export type SortKeyFunction = (stat: FuncStat) => number | string

/**
 * Runs user callbacks over stats: one that throws does not take the read down with it. The
 * first failure of a pass is recorded in `getFaults()` under `where`, and `fallback` is used.
 */
function guard<A, R>(where: string, callback: (arg: A) => R, fallback: R): { call: (arg: A) => R; failed: () => boolean } {
  let failed = false
  return {
    call: (arg) => {
      try {
        return callback(arg)
      } catch (error) {
        if (!failed) recordFault(where, error)
        failed = true
        return fallback
      }
    },
    failed: () => failed,
  }
}

/**
 * Selects functions by name and file: a string matches exactly, a RegExp by test, each value
 * from its start (a global or sticky RegExp's `lastIndex` is reset before each test).
 */
export interface FuncFilter {
  /** Function name. */
  name?: string | RegExp
  /** File path (or URL). */
  module?: string | RegExp
  /** Only these threads (Node `threadId`s, 0 = main); an id no thread has selects nothing. Default: all threads, merged. */
  threadId?: number | number[]
  /**
   * Only samples taken while this tag was active (see `setTagCallback`, `withTag`); tags are
   * compared by their string form. Call counts are then calls entered under the tag.
   */
  tag?: string | number
  /**
   * How old, in milliseconds, the data read may be. Default 0: `getFuncStats` folds the calling
   * thread's running profile first, `snapshot` every thread's. With a larger value a thread
   * whose last rotation is that recent is read as it is, at no cost to it (`Infinity`: any age).
   */
  maxAgeMs?: number
}

/** Options of {@link getThreadStats}. */
export interface ThreadStatsOptions {
  /** As {@link FuncFilter.maxAgeMs}: how old the calling thread's data may be. Default 0. */
  maxAgeMs?: number
}

const FILTER: Shape = { name: 'filter', key: 'filter key', allowed: ['name', 'module', 'threadId', 'tag', 'maxAgeMs'] }

/**
 * A matcher of one field. A global or sticky RegExp keeps state between tests (`lastIndex`):
 * it is reset before each, so every row is tested from its start. The RegExp's own `test` is
 * called, so subclasses behave as they define.
 */
function matcher(field: string, wanted: unknown): ((value: string) => boolean) | undefined {
  if (wanted === undefined) return undefined
  if (typeof wanted === 'string') return (value) => value === wanted
  return readOrRefuse(`filter.${field}`, () => {
    if (!(wanted instanceof RegExp)) throw new YappiError(`filter.${field} must be a string or a RegExp, not ${describe(wanted)}`)
    if (!wanted.global && !wanted.sticky) return (value: string) => wanted.test(value)
    if (Object.getOwnPropertyDescriptor(wanted, 'lastIndex')?.writable === false) {
      throw new YappiError(`filter.${field} is a frozen global or sticky RegExp, which cannot be tested (test() must write its lastIndex); drop the g or y flag`)
    }
    return (value: string) => {
      wanted.lastIndex = 0
      return wanted.test(value)
    }
  })
}

/** What a filter asks of a read: the engine's thread ids and tag, and the rows to keep (undefined: all). */
export interface ResolvedFilter {
  threads: number[] | undefined
  tag: string | undefined
  keep: ((stat: FuncStat) => boolean) | undefined
  /** How old the calling thread's data may be (0: fresh). */
  maxAgeMs: number
}

/**
 * Checks a filter (read once), returning the thread ids and tag for the engine and a predicate
 * for the rest (guarded: a predicate or RegExp that throws drops the row and records a fault).
 */
export function resolveFilter(filter: unknown): ResolvedFilter {
  if (filter === undefined) return { threads: undefined, tag: undefined, keep: undefined, maxAgeMs: 0 }
  if (typeof filter === 'function') {
    const predicate = filter as FuncPredicate
    return { threads: undefined, tag: undefined, keep: guard('filter', (stat: FuncStat) => Boolean(predicate(stat)), false).call, maxAgeMs: 0 }
  }
  const { name, module, threadId, tag, maxAgeMs } = readPlainObject(filter, FILTER)
  checkMaxAge('filter', maxAgeMs)
  const threads = resolveThreads(threadId)
  if (tag !== undefined && typeof tag !== 'string' && !(typeof tag === 'number' && Number.isFinite(tag))) {
    throw new YappiError(`filter.tag must be a string or a finite number, not ${describe(tag)}`)
  }
  const byName = matcher('name', name)
  const byModule = matcher('module', module)
  return {
    threads,
    tag: tag === undefined ? undefined : String(tag),
    keep:
      byName || byModule
        ? guard('filter', (stat: FuncStat): boolean => (!byName || byName(stat.name)) && (!byModule || byModule(stat.module)), false).call
        : undefined,
    maxAgeMs: (maxAgeMs as number | undefined) ?? 0,
  }
}

/** The threads of `getTagStats(filter)`, whose filter has `threadId` alone. */
function checkMaxAge(where: string, maxAgeMs: unknown): void {
  if (maxAgeMs !== undefined && !(typeof maxAgeMs === 'number' && maxAgeMs >= 0)) {
    throw new YappiError(`${where}.maxAgeMs must be a number of milliseconds >= 0 (Infinity: any age), not ${describe(maxAgeMs)}`)
  }
}

/** The age {@link getThreadStats} accepts (read once, checked). */
export function resolveThreadStatsOptions(options: unknown): number {
  if (options === undefined) return 0
  const { maxAgeMs } = readPlainObject(options, { name: 'options', key: 'option', allowed: ['maxAgeMs'] })
  checkMaxAge('options', maxAgeMs)
  return (maxAgeMs as number | undefined) ?? 0
}

export function resolveTagFilter(filter: unknown): number[] | undefined {
  if (filter === undefined) return undefined
  return resolveThreads(readPlainObject(filter, { ...FILTER, allowed: ['threadId'] }).threadId)
}

/** What a sort key function returned, if it can be ordered; otherwise the sort fails (and is contained). */
function checkSortKey(value: unknown, stat: FuncStat): number | string {
  if (typeof value === 'string' || (typeof value === 'number' && !Number.isNaN(value))) return value
  throw new YappiError(`the sort key function returned ${describe(value)} for ${stat.fullName}; it must return a number or a string`)
}

/** A sortable, printable collection of function stats (yappi's `YFuncStats`). */
export class FuncStats implements Iterable<FuncStat> {
  #items: FuncStat[]
  #sortKey: SortKey | 'custom' = 'ttot'
  #sortOrder: SortOrder = 'desc'
  #source: StatsSource
  #clock: ClockType

  /** @internal */
  /** @internal */
  constructor(
    items: FuncStat[],
    clock: ClockType,
    source: StatsSource,
    /** Samples of the threads read that were dropped because the memory budget was full. */
    readonly droppedSamples = 0,
    /** The items are in the starting order already (the engine sends them so: see `encode.rs`). */
    ordered = false,
  ) {
    this.#items = items
    this.#clock = clock
    this.#source = source
    if (!ordered) this.#items.sort(compareBy('ttot', this.#sortOrder))
  }

  /** The clock the times were measured on. */
  get clock(): ClockType {
    return this.#clock
  }

  /** How many functions there are. */
  get length(): number {
    return this.#items.length
  }

  /** Whether data was dropped for want of memory, so these stats cover only part of what ran. */
  get partial(): boolean {
    return this.droppedSamples > 0
  }

  /** The key and order of the last sort (`'custom'` after sorting by a function). */
  get sortedBy(): {
    /** The sort key (`'custom'` for a comparison function). */
    key: SortKey | 'custom'
    /** The sort order. */
    order: SortOrder
  } {
    return { key: this.#sortKey, order: this.#sortOrder }
  }

  /** The functions in the current order. */
  [Symbol.iterator](): Iterator<FuncStat> {
    return this.#items[Symbol.iterator]()
  }

  /** The functions in the current order. */
  toArray(): FuncStat[] {
    return this.#items.slice()
  }

  /** The first function with this name (and file, when given). */
  find(name: string, module?: string): FuncStat | undefined {
    if (typeof name !== 'string') throw new YappiError(`find() needs a function name (a string), not ${describe(name)}`)
    if (module !== undefined && typeof module !== 'string') throw new YappiError(`find()'s module must be a string, not ${describe(module)}`)
    return this.#items.find((stat) => stat.name === name && (module === undefined || stat.module === module))
  }

  /**
   * Sorts in place and returns this collection; callers and callees are sorted alike. `key` may
   * be a function of a row: if it throws, the order stays as it was and `getFaults()` says why.
   */
  sort(key: SortKey | string | SortKeyFunction = 'ttot', order: SortOrder | string = 'desc'): this {
    if (typeof key === 'function') return this.#sortByFunction(key, order)
    const [sortKey, sortOrder] = resolveSort(key, order)
    this.#sortKey = sortKey
    this.#sortOrder = sortOrder
    const compare = compareBy(sortKey, sortOrder)
    this.#items.sort(compare)
    for (const stat of this.#items) {
      if (stat instanceof DecodedFunc) stat.orderEdges(compare)
    }
    return this
  }

  #sortByFunction(key: SortKeyFunction, order: unknown): this {
    const sortOrder = resolveOrder(order)
    const guarded = guard('sort', (stat: FuncStat) => checkSortKey(key(stat), stat), 0)
    const keys = new Map(this.#items.map((stat) => [stat, guarded.call(stat)]))
    if (guarded.failed()) return this
    const sign = sortOrder === 'asc' ? 1 : -1
    const compare = (a: FuncStat, b: FuncStat): number => {
      const left = keys.get(a)!
      const right = keys.get(b)!
      const byKey = typeof left === 'string' || typeof right === 'string' ? String(left).localeCompare(String(right)) : left < right ? -1 : left > right ? 1 : 0
      return sign * byKey || a.name.localeCompare(b.name)
    }
    this.#items.sort(compare)
    this.#sortKey = 'custom'
    this.#sortOrder = sortOrder
    return this
  }

  /** A new collection of the functions that pass `filter` (a predicate, or name/module matchers). */
  filter(filter: FuncPredicate | Omit<FuncFilter, 'threadId' | 'tag'>): FuncStats {
    if (typeof filter !== 'function' && (filter === null || typeof filter !== 'object')) {
      throw new YappiError(`filter must be a function or an object with name and module, not ${describe(filter)}`)
    }
    const given = typeof filter === 'function' ? filter : readPlainObject(filter, FILTER)
    if (typeof given === 'object' && (given.threadId !== undefined || given.tag !== undefined)) {
      throw new YappiError('filter.threadId and filter.tag select samples when stats are read: use getFuncStats({ threadId, tag })')
    }
    const { keep = () => true } = resolveFilter(given)
    const ordered = this.#sortKey === 'ttot' && this.#sortOrder === 'desc'
    const kept = new FuncStats(this.#items.filter((stat) => keep(stat)), this.clock, this.#source, this.droppedSamples, ordered)
    kept.#sortKey = this.#sortKey
    kept.#sortOrder = this.#sortOrder
    return kept.#sortKey === 'custom' ? kept : kept.sort(kept.#sortKey, kept.#sortOrder)
  }

  /** The table as text. */
  format(options?: PrintOptions): string {
    return this.#format(resolveLayout(options))
  }

  /** Prints the table (to stdout unless `options.out` is given). */
  print(options?: PrintOptions): void {
    const layout = resolveLayout(options)
    layout.output(this.#format(layout))
  }

  #format(layout: TableLayout): string {
    return formatFuncTable(this.#items, { clock: this.clock, sortedBy: this.sortedBy, droppedSamples: this.droppedSamples }, layout)
  }

  /** The functions in the current order, for `JSON.stringify`. */
  toJSON(): FuncStat[] {
    return this.#items
  }

  /**
   * The stats as a file of `format`, written by the engine. Exports cover every function of
   * the threads these stats were read from, as the profiler holds them at the time of the
   * call (filters narrow the table, not the export). A `cpuprofile` holds one thread: pass
   * `threadId` when the stats cover several.
   */
  toBuffer(format: SaveFormat, options?: ExportOptions): Buffer {
    return exportBuffer(this.#source, format, options)
  }

  /**
   * Writes the stats to `file` in `format` (by default the format its name implies:
   * `*.pb.gz`, `callgrind.out.*`, `*.cpuprofile`, `*.speedscope.json`, `*.collapsed`,
   * `*.json`). A `cpuprofile` of several threads becomes one file per thread,
   * `name.thread-<id>.cpuprofile`. Returns the paths written.
   */
  save(file: string, format?: SaveFormat): string[] {
    const scope = this.#source.scope
    return saveTo(this.#source, file, format, () => decodeThreadStats(native.threadStats(scope)).toArray().map((thread) => thread.id))
  }

  /**
   * Adds the stats of saved `json` files (or of another collection) to these, as yappi's
   * `add`: equal functions and threads sum. Live stats are copied first, so the profiler's
   * own stats never change. Returns this collection, re-read.
   */
  add(...saved: (string | FuncStats)[]): this {
    let source = detach(this.#source)
    for (const item of saved) {
      if (typeof item === 'object' && item !== null && #source in item) {
        native.loadStats(native.exportStats(item.#source.scope, item.#source.threads, 'json'), source.scope)
      } else {
        source = absorbFile(item, source)
      }
    }
    const fresh = decodeFuncStats(native.funcStats(source.scope, source.threads), undefined, source)
    this.#source = source
    this.#clock = fresh.clock
    this.#items = fresh.#items
    return this.sort(this.#sortKey, this.#sortOrder)
  }
}

/** What {@link ThreadStats.sort} orders by. */
export type ThreadSortKey = 'id' | 'name' | 'wallTime' | 'cpuTime' | 'idleTime' | 'samples'

/** A sortable, printable collection of thread stats (yappi's `YThreadStats`). */
export class ThreadStats implements Iterable<ThreadStat> {
  #items: ThreadStat[]

  /** @internal */
  constructor(
    items: ThreadStat[],
    /** The clock the times were measured on. */
    readonly clock: ClockType,
  ) {
    this.#items = items.sort((a, b) => a.id - b.id)
  }

  /** How many threads there are. */
  get length(): number {
    return this.#items.length
  }

  /** The threads in the current order. */
  [Symbol.iterator](): Iterator<ThreadStat> {
    return this.#items[Symbol.iterator]()
  }

  /** The threads in the current order. */
  toArray(): ThreadStat[] {
    return this.#items.slice()
  }

  /** The thread with this id. */
  get(id: number): ThreadStat | undefined {
    return this.#items.find((thread) => thread.id === id)
  }

  /** Sorts in place and returns this collection. */
  sort(key: ThreadSortKey = 'wallTime', order: SortOrder | string = 'desc'): this {
    const keys: ThreadSortKey[] = ['id', 'name', 'wallTime', 'cpuTime', 'idleTime', 'samples']
    if (!keys.includes(key)) throw new YappiError(`cannot sort threads by ${describe(key)}; sort keys: ${keys.join(', ')}`)
    const sortOrder = resolveOrder(order)
    const sign = sortOrder === 'asc' ? 1 : -1
    this.#items.sort((a, b) => sign * (key === 'name' ? a.name.localeCompare(b.name) : a[key] - b[key]))
    return this
  }

  /** The table as text. */
  format(options?: Omit<PrintOptions, 'columns'>): string {
    return formatThreadTable(this.#items, this.clock, resolveLayout(options, false))
  }

  /** Prints the table (to stdout unless `options.out` is given). */
  print(options?: Omit<PrintOptions, 'columns'>): void {
    const layout = resolveLayout(options, false)
    layout.output(formatThreadTable(this.#items, this.clock, layout))
  }

  /** The threads in the current order, for `JSON.stringify`. */
  toJSON(): ThreadStat[] {
    return this.#items
  }
}

const KINDS: Record<number, FuncKind> = Object.fromEntries(Object.entries(FUNC_KIND_CODES satisfies Record<FuncKind, number>).map(([kind, code]) => [code, kind as FuncKind]))
const NS_PER_SECOND = 1e9

/** Microseconds on the monotonic clock V8 stamps its samples with (`process.hrtime`'s). */
export function monotonicNowUs(): number {
  return Number(process.hrtime.bigint() / 1000n)
}

export function clockOfCode(code: number): ClockType {
  return code === CLOCK_CODES.cpu ? 'cpu' : 'wall'
}

function checkVersion(numbers: Float64Array): void {
  if (numbers[0] !== FORMAT_VERSION) {
    throw new YappiError(`stats format ${numbers[0]} from the native engine, expected ${FORMAT_VERSION}: reinstall yappi-node`)
  }
}

/** An end of a call edge, read from the engine's numbers at `at` (the edge's stats). */
function callEdge(other: FuncStat, numbers: Float64Array, at: number): CallEdge {
  const ncall = numbers[at]
  const ttot = numbers[at + 2] / NS_PER_SECOND
  return {
    id: other.id,
    name: other.name,
    module: other.module,
    line: other.line,
    fullName: other.fullName,
    ncall,
    nactualcall: numbers[at + 1],
    // Coverage counts functions, not call edges: edge counts stay estimates.
    callsExact: false,
    nactualcallExact: false,
    ttot,
    tsub: numbers[at + 3] / NS_PER_SECOND,
    tavg: ncall > 0 ? ttot / ncall : 0,
    tavgExact: false,
    samples: numbers[at + 4],
    samplesTotal: numbers[at + 5],
  }
}

/**
 * The call edges of one decoded result, turned into objects only for the functions whose
 * callers or callees are read: a table of 10k functions is mostly printed, not walked, and
 * building every edge twice up front was most of a read's time and garbage.
 */
class EdgeIndex {
  readonly #numbers: Float64Array
  readonly #ints: Uint32Array
  readonly #start: number
  readonly #intStart: number
  readonly #count: number
  readonly #rows: DecodedFunc[]
  #byId: Map<number, DecodedFunc> | undefined
  #callers: Map<number, number[]> | undefined
  #callees: Map<number, number[]> | undefined

  /** Edge `i` has its stats at `start + i * EDGE_FIELDS` and its ends at `intStart + i * EDGE_INTS`. */
  constructor(numbers: Float64Array, start: number, ints: Uint32Array, intStart: number, count: number, rows: DecodedFunc[]) {
    this.#numbers = numbers
    this.#ints = ints
    this.#start = start
    this.#intStart = intStart
    this.#count = count
    this.#rows = rows
  }

  #group(): [Map<number, DecodedFunc>, Map<number, number[]>, Map<number, number[]>] {
    if (this.#byId && this.#callers && this.#callees) return [this.#byId, this.#callers, this.#callees]
    const byId = new Map(this.#rows.map((row) => [row.id, row]))
    const callers = new Map<number, number[]>()
    const callees = new Map<number, number[]>()
    const add = (map: Map<number, number[]>, id: number, at: number) => {
      const list = map.get(id)
      if (list) list.push(at)
      else map.set(id, [at])
    }
    for (let i = 0, at = this.#intStart; i < this.#count; i++, at += EDGE_INTS) {
      const caller = this.#ints[at]
      const callee = this.#ints[at + 1]
      if (!byId.has(caller) || !byId.has(callee)) continue
      add(callees, caller, i)
      add(callers, callee, i)
    }
    this.#byId = byId
    this.#callers = callers
    this.#callees = callees
    return [byId, callers, callees]
  }

  edges(id: number, side: 'callers' | 'callees'): CallEdge[] {
    const [byId, callers, callees] = this.#group()
    const indices = (side === 'callers' ? callers : callees).get(id) ?? []
    const other = side === 'callers' ? 0 : 1
    return indices.map((i) => callEdge(byId.get(this.#ints[this.#intStart + i * EDGE_INTS + other])!, this.#numbers, this.#start + i * EDGE_FIELDS))
  }
}

type EdgeOrder = (a: CallEdge, b: CallEdge) => number

/** A function row as decoded: numbers read once, call edges built when first read. */
class DecodedFunc implements FuncStat {
  readonly id: number
  readonly name: string
  readonly module: string
  readonly line: number
  readonly column: number
  readonly kind: FuncKind
  readonly ncall: number
  readonly nactualcall: number
  readonly callsExact: boolean
  readonly nactualcallExact: boolean
  readonly ttot: number
  readonly tsub: number
  readonly tavg: number
  readonly tavgExact: boolean
  readonly samples: number
  readonly samplesTotal: number
  readonly #edges: EdgeIndex
  #callers: CallEdge[] | undefined
  #callees: CallEdge[] | undefined
  #order: EdgeOrder | undefined

  /** Its stats are at `at` in `numbers`, the rest at `intAt` in `ints`. */
  constructor(numbers: Float64Array, at: number, ints: Uint32Array, intAt: number, text: string, edges: EdgeIndex) {
    this.id = ints[intAt]
    this.kind = KINDS[ints[intAt + 1]] ?? 'user'
    this.line = ints[intAt + 2]
    this.column = ints[intAt + 3]
    this.name = text.substr(ints[intAt + 4], ints[intAt + 5])
    this.module = text.substr(ints[intAt + 6], ints[intAt + 7])
    const exactFlags = ints[intAt + 8]
    this.ncall = numbers[at]
    this.nactualcall = numbers[at + 1]
    this.callsExact = (exactFlags & EXACT_NCALL) !== 0
    this.nactualcallExact = (exactFlags & EXACT_NACTUAL) !== 0
    this.ttot = numbers[at + 2] / NS_PER_SECOND
    this.tsub = numbers[at + 3] / NS_PER_SECOND
    this.tavg = this.ncall > 0 ? this.ttot / this.ncall : 0
    this.tavgExact = this.callsExact
    this.samples = numbers[at + 4]
    this.samplesTotal = numbers[at + 5]
    this.#edges = edges
  }

  get fullName(): string {
    return `${this.module}:${this.line} ${this.name}`
  }

  get callers(): CallEdge[] {
    this.#callers ??= this.#ordered(this.#edges.edges(this.id, 'callers'))
    return this.#callers
  }

  get callees(): CallEdge[] {
    this.#callees ??= this.#ordered(this.#edges.edges(this.id, 'callees'))
    return this.#callees
  }

  /** Orders the edges now if they exist, or when they are first read. */
  orderEdges(order: EdgeOrder): void {
    this.#order = order
    this.#callers?.sort(order)
    this.#callees?.sort(order)
  }

  #ordered(edges: CallEdge[]): CallEdge[] {
    return this.#order ? edges.sort(this.#order) : edges
  }

  toJSON(): FuncStat {
    const { callers, callees, fullName } = this
    return { ...this, fullName, callers, callees }
  }
}

/** Decodes the engine's function stats: functions, then edges linked to both ends. */
export function decodeFuncStats({ numbers, ints, text }: BindingEncoded, clock: ClockType | undefined, source: StatsSource): FuncStats {
  checkVersion(numbers)
  const funcCount = numbers[1]
  const edgeCount = numbers[2]
  const rows: DecodedFunc[] = new Array(funcCount)
  const edges = new EdgeIndex(numbers, HEADER_LEN + funcCount * FUNC_FIELDS, ints, funcCount * FUNC_INTS, edgeCount, rows)
  for (let i = 0, at = HEADER_LEN, intAt = 0; i < funcCount; i++, at += FUNC_FIELDS, intAt += FUNC_INTS) {
    rows[i] = new DecodedFunc(numbers, at, ints, intAt, text, edges)
  }
  return new FuncStats(rows, clock ?? clockOfCode(numbers[4]), source, numbers[5], true)
}

export function decodeThreadStats({ numbers, text }: BindingEncoded): ThreadStats {
  checkVersion(numbers)
  const count = numbers[1]
  const threads: ThreadStat[] = []
  let at = THREAD_HEADER_LEN
  for (let i = 0; i < count; i++, at += THREAD_FIELDS) {
    threads.push({
      id: numbers[at],
      name: text.substr(numbers[at + 1], numbers[at + 2]),
      wallTime: numbers[at + 3] / NS_PER_SECOND,
      cpuTime: numbers[at + 4] / NS_PER_SECOND,
      samples: numbers[at + 5],
      idleTime: numbers[at + 6] / NS_PER_SECOND,
      idleSamples: numbers[at + 7],
      profiles: numbers[at + 8],
      droppedSamples: numbers[at + 9],
      cpuTimeEstimated: numbers[at + 10] / NS_PER_SECOND,
      profilerTime: numbers[at + 11] / NS_PER_SECOND,
      profilerSamples: numbers[at + 12],
      age: numbers[at + 13] < 0 ? Infinity : Math.max(0, monotonicNowUs() - numbers[at + 13]) / 1e6,
      maxSampleGap: numbers[at + 14] / NS_PER_SECOND,
    })
  }
  return new ThreadStats(threads, clockOfCode(numbers[2]))
}

/** What one tag accounts for (times in seconds). */
export interface TagStat {
  /** The tag, in its string form. */
  tag: string
  /** Time on the session's clock under this tag: CPU time with `clock: 'cpu'` (idle excluded). */
  time: number
  /** Wall time under this tag (waiting in the event loop belongs to no tag). */
  wallTime: number
  /** Samples taken under this tag. */
  samples: number
}

/** Decodes per-tag totals, largest time first. */
export function decodeTagStats({ numbers, text }: BindingEncoded): TagStat[] {
  checkVersion(numbers)
  const tags: TagStat[] = []
  let at = TAG_HEADER_LEN
  for (let i = 0; i < numbers[1]; i++, at += TAG_FIELDS) {
    tags.push({
      tag: text.substr(numbers[at], numbers[at + 1]),
      time: numbers[at + 2] / NS_PER_SECOND,
      wallTime: numbers[at + 3] / NS_PER_SECOND,
      samples: numbers[at + 4],
    })
  }
  return tags.sort((a, b) => b.time - a.time || a.tag.localeCompare(b.tag))
}
