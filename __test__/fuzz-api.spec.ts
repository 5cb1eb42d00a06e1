// Property-based fuzz of the public API: hostile arguments (wrong types, NaN, huge numbers,
// revoked Proxies, throwing and changing getters, frozen and inherited objects, stateful
// RegExps, callbacks that throw or return anything, unwritable paths, damaged files). Each
// property states what a call must do with its input, decided from the input alone:
//   - a correct input works (and gives the right answer where one is known);
//   - a wrong one throws a YappiError, never anything else;
//   - the documented no-ops and pass-throughs (README, "Clear errors for bad input") hold.
// Afterwards, correct use still works. The seed is printed on failure; FUZZ_SEED=<n> replays it.
import test, { type ExecutionContext } from 'ava'
import * as fc from 'fast-check'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import * as yappi from '../index'
import { mixedWorkload, spinA, spinB, spinC } from './workloads/burn'

const SEED = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31))
const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-fuzz-'))
test.after.always(() => fs.rmSync(DIR, { recursive: true, force: true }))

/** What a call must do: work, be refused with a YappiError, or let the caller's own error through. */
type Expect = { works: true } | { refused: true } | { passes: unknown }
const WORKS: Expect = { works: true }
const REFUSED: Expect = { refused: true }

/** Runs `call` and checks it did what `expect` says; returns the call's value when it worked. */
function check(expect: Expect, call: () => unknown, what: string): unknown {
  let value: unknown
  try {
    value = call()
  } catch (error) {
    if ('passes' in expect && error === expect.passes) return undefined
    if ('refused' in expect && error instanceof yappi.YappiError && error.message.length > 0) return undefined
    throw new Error(`${what}: threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, expected ${JSON.stringify(Object.keys(expect))}`)
  }
  if (!('works' in expect)) throw new Error(`${what}: returned instead of ${'refused' in expect ? 'throwing a YappiError' : 'passing the error through'}`)
  return value
}

/** An oracle's look at a hostile value must not throw either: what cannot be looked at is not valid. */
function safely(judge: () => boolean): boolean {
  try {
    return judge()
  } catch {
    return false
  }
}

function run(t: ExecutionContext, name: string, property: Parameters<typeof fc.assert>[0], numRuns: number): void {
  try {
    fc.assert(property, { seed: SEED, numRuns })
  } catch (error) {
    const { message, cause } = error as Error
    throw new Error(`${name} failed; replay with FUZZ_SEED=${SEED}\n${message}\n${cause instanceof Error ? cause.message : ''}`)
  }
  t.pass(name)
}

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const throwingProxy = (): object =>
  new Proxy(
    {},
    {
      get: () => {
        throw new Error('get trap')
      },
      ownKeys: () => {
        throw new Error('ownKeys trap')
      },
    },
  )

/** Values no option, filter or key accepts, or only some do; made fresh for each run. */
const HOSTILE: (() => unknown)[] = [
  () => undefined,
  () => null,
  () => Number.NaN,
  () => Infinity,
  () => -Infinity,
  () => -0,
  () => -1,
  () => 1.5,
  () => 2 ** 32,
  () => 2 ** 53,
  () => 2 ** 64,
  () => Number.MAX_VALUE,
  () => '',
  () => '__proto__',
  () => 10n,
  () => Symbol('hostile'),
  () => true,
  () => ({}),
  () => [],
  () => [0, -1],
  () => Object.freeze({}),
  () => Object.create(null),
  revoked,
  throwingProxy,
  () => ({
    valueOf: () => {
      throw new Error('valueOf')
    },
    toString: () => {
      throw new Error('toString')
    },
  }),
  () => new Date(0),
  () => new Map(),
  () => Object.freeze(/spin/g),
  () => () => 1,
  () => () => {
    throw new Error('callback')
  },
]
/** Values some options, filters and keys accept. */
const USABLE: (() => unknown)[] = [
  () => 'wall',
  () => 'cpu',
  () => 'estimated',
  () => 'exact',
  () => 0,
  () => 200,
  () => 1000,
  () => 1 << 20,
  () => false,
  () => 'spinA',
  () => 'asc',
  () => 'TotalTime',
  () => /^spin[AB]$/,
  () => /spin/g,
  () => /SPIN[BC]/giy,
  () => Object.freeze(/spin/),
  () => [0],
  () => [0, 2 ** 32],
  () => 7,
]
/**
 * Values travel through fast-check as thunks, made in the property: fast-check looks into the
 * values it carries (and prints them on failure), which a revoked Proxy does not survive.
 */
const THUNK = Symbol('thunk')
type Thunk = (() => unknown) & { [THUNK]: true }

function labelled(make: () => unknown, label: string): Thunk {
  return Object.assign(make, { [THUNK]: true as const, [fc.toStringMethod]: () => label })
}

const constant = (v: unknown): Thunk => labelled(() => v, typeof v === 'bigint' ? `${v}n` : typeof v === 'string' ? JSON.stringify(v) : String(v))

/** The value a generated argument stands for: thunks are made, fast-check's own arrays opened. */
function open(v: unknown): unknown {
  if (typeof v === 'function' && THUNK in v) return (v as Thunk)()
  return Array.isArray(v) ? v.map(open) : v
}

const value: fc.Arbitrary<Thunk> = fc.oneof(
  fc.constantFrom(...HOSTILE, ...USABLE).map((make) => labelled(make, make.toString())),
  fc.integer().map(constant),
  fc.double().map(constant),
  fc.string({ maxLength: 6 }).map(constant),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(constant),
)

/** RegExps of every flag that keeps state (g, y) or not, of these sources. */
const regexp = (...sources: string[]): fc.Arbitrary<Thunk> =>
  fc.tuple(fc.constantFrom(...sources), fc.constantFrom('', 'g', 'y', 'gy', 'i', 'gi', 'iy')).map(([source, flags]) => labelled(() => new RegExp(source, flags), `/${source}/${flags}`))
const threadIds = fc.constantFrom<unknown>(undefined, 0, 0, 1, 12, 2 ** 32, 2 ** 32 + 1, 2 ** 53, Number.MAX_SAFE_INTEGER, [0], [], [0, 2 ** 32], [2 ** 32]).map(constant)
const biased = (special: fc.Arbitrary<Thunk>): fc.Arbitrary<Thunk> => fc.oneof({ arbitrary: special, weight: 3 }, { arbitrary: value, weight: 1 })

/**
 * Entries of some of `keys`, each drawn from its own values (any value for keys not listed),
 * and now and then an unknown key.
 */
function entriesOf(keys: readonly string[], special: Record<string, fc.Arbitrary<Thunk>> = {}): fc.Arbitrary<Record<string, unknown>> {
  const known = fc.record(Object.fromEntries(keys.map((key) => [key, special[key] ?? value])), { requiredKeys: [] })
  const unknown = fc.option(fc.constantFrom('bogus', 'threadID'), { freq: 4 })
  return fc.tuple(known, unknown, value).map(([entries, typo, v]) => (typo === null ? entries : { ...entries, [typo]: v }))
}

/** How an options-like argument is wrapped; only some wrappings are plain objects whose keys count. */
const CONTAINERS = ['plain', 'frozen', 'null-prototype', 'changing-getter', 'inherited', 'class', 'revoked', 'throwing-getter', 'array', 'primitive'] as const
type Container = (typeof CONTAINERS)[number]
interface Built {
  arg: unknown
  /** The entries as the call must see them (each read once), when the container is plain. */
  entries?: Record<string, unknown>
  reads: () => number
}

function build(container: Container, entries: Record<string, unknown>, primitive: unknown): Built {
  let reads = 0
  switch (container) {
    case 'plain':
      return { arg: { ...entries }, entries, reads: () => reads }
    case 'frozen':
      return { arg: Object.freeze({ ...entries }), entries, reads: () => reads }
    case 'null-prototype':
      return { arg: Object.assign(Object.create(null) as object, entries), entries, reads: () => reads }
    case 'changing-getter': {
      const arg: Record<string, unknown> = {}
      for (const [key, first] of Object.entries(entries)) {
        let readsOfKey = 0
        Object.defineProperty(arg, key, {
          enumerable: true,
          get: () => {
            reads++
            return readsOfKey++ === 0 ? first : Symbol('second read')
          },
        })
      }
      return { arg, entries, reads: () => reads }
    }
    case 'inherited':
      return { arg: Object.create(entries) as object, reads: () => reads }
    case 'class':
      return { arg: Object.assign(new (class Options {})(), entries), reads: () => reads }
    case 'revoked':
      return { arg: revoked(), reads: () => reads }
    case 'throwing-getter':
      return {
        arg: Object.defineProperty({ ...entries }, Object.keys(entries)[0] ?? 'limit', {
          enumerable: true,
          get: () => {
            throw new Error('getter')
          },
        }),
        reads: () => reads,
      }
    case 'array':
      return { arg: Object.values(entries), reads: () => reads }
    case 'primitive':
      return { arg: primitive, entries: primitive === undefined ? {} : undefined, reads: () => reads }
  }
}

/** An options-like argument: entries (some of `keys`, some unknown) in some container, made when opened. */
function argument(keys: readonly string[], entries: fc.Arbitrary<Record<string, unknown>> = entriesOf(keys)) {
  return fc
    // Mostly plain objects, whose entries are then checked one by one.
    .record({ container: fc.oneof({ arbitrary: fc.constant<Container>('plain'), weight: CONTAINERS.length }, fc.constantFrom(...CONTAINERS)), entries, primitive: fc.constantFrom(undefined, null, 42, 'options', true, Symbol('s')).map(constant) })
    .map(({ container, entries, primitive }) =>
      labelled(
        () => build(container, Object.fromEntries(Object.entries(entries).map(([key, v]) => [key, open(v)])), open(primitive)),
        `${container} { ${Object.entries(entries).map(([key, v]) => `${key}: ${fc.stringify(v)}`).join(', ')} }`,
      ),
    )
}

const isWhole = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max
const oneOf = (v: unknown, ...allowed: unknown[]): boolean => v === undefined || allowed.includes(v)

/** The options of start() and profile() as the README states them. */
function optionsValid(entries: Record<string, unknown>, keys: readonly string[]): boolean {
  const v = entries
  return (
    Object.keys(v).every((key) => keys.includes(key)) &&
    oneOf(v.clock, 'wall', 'cpu') &&
    (v.intervalUs === undefined || isWhole(v.intervalUs, 1, 1e6)) &&
    oneOf(v.builtins, true, false) &&
    oneOf(v.threads, true, false) &&
    (v.rotateIntervalMs === undefined || isWhole(v.rotateIntervalMs, 10, 3.6e6)) &&
    (v.maxMemoryBytes === undefined || isWhole(v.maxMemoryBytes, 65536, Number.MAX_SAFE_INTEGER)) &&
    oneOf(v.counts, 'estimated', 'exact') &&
    (v.stallThresholdMs === undefined || isWhole(v.stallThresholdMs, 0, 3.6e6)) &&
    (v.maxStalls === undefined || isWhole(v.maxStalls, 0, 1e5))
  )
}

const START_KEYS = ['clock', 'intervalUs', 'builtins', 'rotateIntervalMs', 'maxMemoryBytes', 'threads', 'counts', 'stallThresholdMs', 'maxStalls']
const PROFILE_KEYS = ['clock', 'intervalUs', 'builtins']

const built = (v: unknown): Built => open(v) as Built

test.serial('start() and profile(): any options', (t) => {
  run(
    t,
    'start',
    fc.property(argument(START_KEYS), (options) => {
      const { arg, entries, reads } = built(options)
      yappi.clearStats()
      const expect = entries && optionsValid(entries, START_KEYS) ? WORKS : REFUSED
      try {
        check(expect, () => yappi.start(arg as yappi.StartOptions), 'start')
        if (reads() > Object.keys(entries ?? {}).length) throw new Error(`start read a getter ${reads()} times`)
        if (yappi.isRunning() !== 'works' in expect) throw new Error('running state does not match the outcome')
      } finally {
        yappi.stop()
      }
    }),
    60,
  )
  run(
    t,
    'profile',
    fc.property(argument(PROFILE_KEYS), fc.constantFrom<unknown>(() => 5, 'fn', null), (options, fn) => {
      const { arg, entries } = built(options)
      const valid = typeof fn === 'function' && entries !== undefined && optionsValid(entries, PROFILE_KEYS)
      const stats = check(valid ? WORKS : REFUSED, () => yappi.profile(fn as () => number, arg as yappi.ProfileOptions), 'profile')
      if (valid && !(stats instanceof yappi.FuncStats)) throw new Error('profile returned no stats')
    }),
    40,
  )
})

/** Stats of a known workload: spinA, spinB and spinC on the main thread only. */
function profileSpins(): yappi.FuncStats {
  yappi.clearStats()
  yappi.start({ threads: false, intervalUs: 200 })
  // Long enough that a sampler a loaded machine holds up still sees each one.
  spinA(60)
  spinB(60)
  spinC(60)
  yappi.stop()
  return yappi.getFuncStats()
}

/** What a RegExp filter means: each name tested from its start, whatever state the RegExp had. */
function matches(pattern: unknown, text: string): boolean {
  if (typeof pattern === 'string') return pattern === text
  const re = pattern as RegExp
  const stateless = new RegExp(re.sticky ? `^(?:${re.source})` : re.source, re.flags.replace(/[gy]/g, ''))
  return stateless.test(text)
}

const isMatcher = (v: unknown): boolean =>
  safely(() => v === undefined || typeof v === 'string' || (v instanceof RegExp && !(Object.isFrozen(v) && (v.global || v.sticky))))
const isThreadId = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0
const isThreads = (v: unknown): boolean => safely(() => v === undefined || isThreadId(v) || (Array.isArray(v) && v.every(isThreadId)))
const isTag = (v: unknown): boolean => v === undefined || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v))

/** The rows a name/module filter keeps, by the README's rules. */
function expectedRows(all: yappi.FuncStat[], filter: Record<string, unknown>): number[] {
  const { name, module } = filter
  return all.filter((stat) => (name === undefined || matches(name, stat.name)) && (module === undefined || matches(module, stat.module))).map((stat) => stat.id)
}

const sameRows = (stats: yappi.FuncStats, ids: number[]): boolean => JSON.stringify(stats.toArray().map((stat) => stat.id).sort()) === JSON.stringify([...ids].sort())

test.serial('getFuncStats(), stats.filter() and getTagStats(): any filter; RegExps with state and thread ids give the right rows', (t) => {
  const all = profileSpins().toArray()
  const keys = ['name', 'module', 'threadId', 'tag']
  const tags = fc.constantFrom<unknown>(undefined, undefined, 'route', 7, -0, 'NaN').map(constant)
  // Names and files of the workload (spinA, spinB and spinC in workloads/burn.ts), and others.
  const filters = {
    name: biased(regexp('spin', '^spin[AB]$', 'SPIN', 'pin.$', '[ABC]', 'x')),
    module: biased(regexp('burn', 'workloads', 'BURN', '\\.[jt]s$', 'work', 'x')),
    threadId: biased(threadIds),
    tag: biased(tags),
  }
  const isStateful = (v: unknown): boolean => v instanceof RegExp && (v.global || v.sticky)
  let statefulReads = 0
  run(
    t,
    'getFuncStats',
    fc.property(argument(keys, entriesOf(keys, filters)), (filter) => {
      const { arg, entries: v } = built(filter)
      const valid = v !== undefined && Object.keys(v).every((key) => keys.includes(key)) && isMatcher(v.name) && isMatcher(v.module) && isThreads(v.threadId) && isTag(v.tag)
      const stats = check(valid ? WORKS : REFUSED, () => yappi.getFuncStats(arg as yappi.FuncFilter), 'getFuncStats') as yappi.FuncStats | undefined
      if (!valid || !v) return
      if (isStateful(v.name) || isStateful(v.module)) statefulReads++
      // Only the main thread was profiled, and nothing was tagged: a list without 0, or a tag, selects nothing.
      const ids = v.threadId === undefined ? [0] : [v.threadId].flat()
      if (!sameRows(stats!, ids.includes(0) && v.tag === undefined ? expectedRows(all, v) : [])) throw new Error(`getFuncStats gave ${stats!.length} rows`)
    }),
    300,
  )
  t.log(`${statefulReads} reads checked with a global or sticky RegExp`)
  t.true(statefulReads >= 10, 'the filters drawn include enough stateful RegExps to test them')
  const stats = yappi.getFuncStats()
  const predicate = labelled(() => ({ arg: () => true, reads: () => 0 }), 'a predicate')
  run(
    t,
    'stats.filter',
    fc.property(fc.oneof(argument(['name', 'module'], entriesOf(['name', 'module'], filters)), fc.constant(predicate)), (filter) => {
      const { arg, entries: v } = built(filter)
      // stats.filter() needs a filter: without one there is nothing to do.
      const valid =
        typeof arg === 'function' || (arg !== undefined && v !== undefined && Object.keys(v).every((key) => key === 'name' || key === 'module') && isMatcher(v.name) && isMatcher(v.module))
      const kept = check(valid ? WORKS : REFUSED, () => stats.filter(arg as yappi.FuncFilter), 'stats.filter') as yappi.FuncStats | undefined
      if (kept && !sameRows(kept, v ? expectedRows(all, v) : all.map((stat) => stat.id))) throw new Error(`stats.filter kept ${kept.length} rows`)
    }),
    200,
  )
  run(
    t,
    'getTagStats',
    fc.property(argument(['threadId'], entriesOf(['threadId'], filters)), (filter) => {
      const { arg, entries: v } = built(filter)
      const valid = v !== undefined && Object.keys(v).every((key) => key === 'threadId') && isThreads(v.threadId)
      check(valid ? WORKS : REFUSED, () => yappi.getTagStats(arg as { threadId: number }), 'getTagStats')
    }),
    100,
  )
  const stallKeys = ['threadId', 'minDurationMs', 'since']
  const isTime = (v: unknown): boolean => v === undefined || (typeof v === 'number' && Number.isFinite(v)) || (v instanceof Date && Number.isFinite(v.getTime()))
  run(
    t,
    'getStalls',
    fc.property(argument(stallKeys, entriesOf(stallKeys, { threadId: filters.threadId })), (filter) => {
      const { arg, entries: v } = built(filter)
      // As README states: thread ids, a duration of 0 ms or more, a time (epoch ms or a Date).
      const valid =
        v !== undefined &&
        Object.keys(v).every((key) => stallKeys.includes(key)) &&
        isThreads(v.threadId) &&
        (v.minDurationMs === undefined || (typeof v.minDurationMs === 'number' && Number.isFinite(v.minDurationMs) && v.minDurationMs >= 0)) &&
        safely(() => isTime(v.since))
      const stalls = check(valid ? WORKS : REFUSED, () => yappi.getStalls(arg as yappi.StallFilter), 'getStalls') as yappi.Stalls | undefined
      if (stalls && !Array.isArray(stalls)) throw new Error('getStalls did not return an array')
    }),
    100,
  )
})

const COLUMNS = ['name', 'module', 'line', 'ncall', 'nactualcall', 'ttot', 'tsub', 'tavg', 'samples', 'samplesTotal']
const column = fc.oneof(
  fc.constantFrom<unknown>(...COLUMNS, 'speed', 7),
  fc.tuple(fc.constantFrom<unknown>(...COLUMNS, 'speed'), fc.oneof(fc.integer({ min: -5, max: 1200 }), value)),
)
const WRITE_FAILURE = new Error('the caller’s stream failed')
/** Outputs whose write throws: print lets that error through to its caller. */
const FAILING = new WeakSet<object>()
const output = fc.constantFrom(
  labelled(() => ({ write: () => {} }), 'a stream'),
  labelled(() => {
    const out = {
      write: () => {
        throw WRITE_FAILURE
      },
    }
    FAILING.add(out)
    return out
  }, 'a stream that fails'),
  labelled(() => ({}), '{}'),
  labelled(() => ({ write: 'text' }), '{ write: "text" }'),
  labelled(revoked, 'a revoked Proxy'),
  constant(42),
)

test.serial('print() and format(): any print options', (t) => {
  const stats = profileSpins()
  const threads = yappi.getThreadStats()
  const entries = fc
    .record({ limit: fc.oneof(fc.nat(5), value), columns: fc.oneof(fc.array(column, { maxLength: 4 }), value), out: output }, { requiredKeys: [] })
    .map((chosen) => chosen as Record<string, unknown>)
  const columnsValid = (columns: unknown): boolean =>
    safely(
      () =>
        columns === undefined ||
        (Array.isArray(columns) &&
          columns.length > 0 &&
          columns.every((entry) => (Array.isArray(entry) ? COLUMNS.includes(entry[0]) && isWhole(entry[1], 3, 1000) : COLUMNS.includes(entry as string)))),
    )
  const outValid = (out: unknown): boolean => safely(() => out === undefined || (typeof out === 'object' && out !== null && typeof (out as { write?: unknown }).write === 'function'))
  run(
    t,
    'print',
    fc.property(argument(['limit', 'columns', 'out'], entries), fc.boolean(), fc.boolean(), (options, print, ofThreads) => {
      const { arg, entries: v } = built(options)
      const keys = ofThreads ? ['limit', 'out'] : ['limit', 'columns', 'out']
      const valid =
        v !== undefined && Object.keys(v).every((key) => keys.includes(key)) && (v.limit === undefined || isWhole(v.limit, 0, Infinity)) && columnsValid(v.columns) && outValid(v.out)
      // Printing without `out` would write to the test's stdout: format then, with the same checks.
      const printing = print && v?.out !== undefined
      const expect = !valid ? REFUSED : printing && FAILING.has(v!.out as object) ? { passes: WRITE_FAILURE } : WORKS
      const table = ofThreads ? threads : stats
      const text = check(expect, () => (printing ? table.print(arg as yappi.PrintOptions) : table.format(arg as yappi.PrintOptions)), printing ? 'print' : 'format')
      if ('works' in expect && !printing && !/^Clock type/.test(text as string)) throw new Error('no table')
    }),
    300,
  )
})

/** `key` ordered as the README says: numbers by value, strings as text, the name breaking ties. */
function isOrdered(rows: yappi.FuncStat[], key: (stat: yappi.FuncStat) => number | string, sign: number): boolean {
  return rows.every((row, i) => {
    if (i === 0) return true
    const [a, b] = [key(rows[i - 1]), key(row)]
    const byKey = typeof a === 'string' || typeof b === 'string' ? String(a).localeCompare(String(b)) : a < b ? -1 : a > b ? 1 : 0
    return sign * byKey <= 0 || (byKey === 0 && rows[i - 1].name.localeCompare(row.name) <= 0)
  })
}

const SORT_KEYS = ['name', 'module', 'line', 'ncall', 'callcount', 'nactualcall', 'ttot', 'totaltime', 'tsub', 'subtime', 'tavg', 'avgtime', 'samples', 'samplesTotal']
const ORDERS = ['asc', 'ascending', 'desc', 'descending']

test.serial('sort(): any key and order; a key function that throws or returns anything leaves the order', (t) => {
  const stats = profileSpins()
  const keyFunction = fc.oneof(
    fc.constantFrom(
      labelled(() => (stat: yappi.FuncStat) => stat.ttot, 'stat => stat.ttot'),
      labelled(() => (stat: yappi.FuncStat) => stat.name, 'stat => stat.name'),
      labelled(() => (stat: yappi.FuncStat) => stat.line, 'stat => stat.line'),
      labelled(
        () => () => {
          throw new Error('sort key')
        },
        'a key that throws',
      ),
    ),
    value.map((result) => labelled(() => () => result(), `() => ${fc.stringify(result)}`)),
  )
  const key = fc.oneof(fc.constantFrom<unknown>(...SORT_KEYS, 'SUBTIME', 'speed', undefined), keyFunction, value)
  const order = fc.oneof(fc.constantFrom<unknown>(...ORDERS, 'DESC', undefined, 'up'), value)
  const orderValid = (o: unknown): boolean => o === undefined || (typeof o === 'string' && ORDERS.includes(o.toLowerCase()))
  run(
    t,
    'sort',
    fc.property(key, order, (makeKey, makeOrder) => {
      const [k, o] = [open(makeKey), open(makeOrder)]
      // No key is the default key, ttot.
      const keyValid = k === undefined || typeof k === 'function' || (typeof k === 'string' && SORT_KEYS.some((name) => name.toLowerCase() === k.toLowerCase()))
      const before = stats.toArray()
      yappi.clearFaults()
      check(keyValid && orderValid(o) ? WORKS : REFUSED, () => stats.sort(k as yappi.SortKey, o as yappi.SortOrder), 'sort')
      if (typeof k !== 'function' || !orderValid(o)) return
      const keys = before.map((stat) => {
        try {
          return (k as (stat: yappi.FuncStat) => unknown)(stat)
        } catch {
          return undefined
        }
      })
      const orderable = keys.every((result) => typeof result === 'string' || (typeof result === 'number' && !Number.isNaN(result)))
      const after = stats.toArray()
      if (!orderable) {
        if (after.some((stat, i) => stat !== before[i])) throw new Error('a failed sort moved rows')
        if (!yappi.getFaults().faults.some((fault) => fault.where === 'sort')) throw new Error('a failed sort recorded no fault')
      } else if (!isOrdered(after, k as (stat: yappi.FuncStat) => number | string, String(o ?? 'desc').toLowerCase().startsWith('asc') ? 1 : -1)) {
        throw new Error('not sorted by the key function')
      }
    }),
    300,
  )
  const threadKey = fc.oneof(fc.constantFrom<unknown>('id', 'name', 'wallTime', 'cpuTime', 'idleTime', 'samples', 'cpu', undefined), value)
  run(
    t,
    'find and thread sort',
    fc.property(value, fc.oneof(fc.constant(undefined), value), threadKey, order, (makeName, makeModule, makeThreadKey, makeOrder) => {
      const [name, module, tk, o] = [open(makeName), open(makeModule), open(makeThreadKey), open(makeOrder)]
      check(typeof name === 'string' && (module === undefined || typeof module === 'string') ? WORKS : REFUSED, () => stats.find(name as string, module as string), 'find')
      const keyValid = tk === undefined || ['id', 'name', 'wallTime', 'cpuTime', 'idleTime', 'samples'].includes(tk as string)
      check(keyValid && orderValid(o) ? WORKS : REFUSED, () => yappi.getThreadStats().sort(tk as yappi.ThreadSortKey, o as yappi.SortOrder), 'thread sort')
    }),
    200,
  )
})

const FORMATS = ['pprof', 'callgrind', 'cpuprofile', 'speedscope', 'collapsed', 'json']
const NAMES: [string, string | undefined][] = [
  ['p.pb.gz', 'pprof'],
  ['callgrind.out.x', 'callgrind'],
  ['p.cpuprofile', 'cpuprofile'],
  ['p.speedscope.json', 'speedscope'],
  ['p.collapsed', 'collapsed'],
  ['p.json', 'json'],
  ['p.txt', undefined],
]

test.serial('save(), toBuffer(), load() and add(): any path, format and file', (t) => {
  const stats = profileSpins()
  const good = path.join(DIR, 'good.json')
  stats.save(good)
  const bytes = fs.readFileSync(good)
  const text = bytes.toString('utf8')
  const damaged = (name: string, data: string | Buffer): string => {
    const file = path.join(DIR, name)
    fs.writeFileSync(file, data)
    return file
  }
  const bad = [
    damaged('garbage.json', Buffer.from([0xff, 0x00, 0x7b, 0x22])),
    damaged('huge.json', text.replace(/"ncall":\d+/, '"ncall":18446744073709551615')),
    damaged('past-2-53.json', text.replace(/"wall_ns":\d+/, '"wall_ns":9007199254740993')),
    damaged('negative.json', text.replace(/"ncall":\d+/, '"ncall":-1')),
    damaged('twice.json', text.replace(/"threads":\[(.*)\]\}$/, '"threads":[$1,$1]}')),
    damaged('other.json', '{"format":"something else"}'),
    DIR,
    path.join(DIR, 'missing', 'x.json'),
  ]
  t.not(fs.readFileSync(bad[4], 'utf8'), text, 'the file with a thread twice differs from the good one')
  const truncated = fc.integer({ min: 0, max: bytes.length - 1 }).map((at) => labelled(() => damaged(`truncated-${at}.json`, bytes.subarray(0, at)), `${at} bytes of a good file`))
  const file = fc.oneof(fc.constant(good), fc.constantFrom(...bad), truncated, value)
  const spinSamples = stats.find('spinA')!.samples
  run(
    t,
    'load',
    fc.property(fc.array(file, { minLength: 0, maxLength: 3 }), (makeFiles) => {
      const files = open(makeFiles) as unknown[]
      const allGood = files.every((f) => f === good)
      const loaded = check(allGood && files.length > 0 ? WORKS : REFUSED, () => yappi.load(...(files as string[])), 'load') as yappi.FuncStats | undefined
      if (loaded && loaded.find('spinA')!.samples !== files.length * spinSamples) throw new Error('loaded files do not add up')
      // add() with nothing to add leaves the stats as they are.
      check(allGood ? WORKS : REFUSED, () => stats.filter(() => true).add(...(files as string[])), 'add')
    }),
    150,
  )
  const target = fc.oneof(
    fc.constantFrom(...NAMES).map(([name]) => path.join(DIR, 'out', name)),
    fc.constantFrom(DIR, path.join(DIR, 'missing', 'p.json'), '/dev/full', ''),
    // Random strings would be paths under the working directory.
    value.filter((v) => typeof v() !== 'string'),
  )
  const format = fc.oneof(fc.constantFrom<unknown>(...FORMATS, 'svg', undefined), value)
  fs.mkdirSync(path.join(DIR, 'out'))
  run(
    t,
    'save and toBuffer',
    fc.property(target, format, argument(['threadId']), (makeTarget, makeFormat, exportOptions) => {
      const [to, f] = [open(makeTarget), open(makeFormat)]
      const named = typeof to === 'string' && to.startsWith(path.join(DIR, 'out'))
      const implied = typeof to === 'string' ? NAMES.find(([name]) => to.endsWith(name))?.[1] : undefined
      const formatValid = f === undefined ? implied !== undefined : FORMATS.includes(f as string)
      const written = check(named && formatValid ? WORKS : REFUSED, () => stats.save(to as string, f as yappi.SaveFormat), 'save') as string[] | undefined
      if (written && !written.every((w) => fs.statSync(w).size > 0)) throw new Error('save wrote an empty file')
      const { arg, entries: v } = built(exportOptions)
      const optionsValid = v !== undefined && Object.keys(v).every((key) => key === 'threadId') && (v.threadId === undefined || isThreadId(v.threadId))
      // A cpuprofile holds one thread: one that is not in the stats is refused by name.
      const noThread = f === 'cpuprofile' && v?.threadId !== undefined && v.threadId !== 0
      check(FORMATS.includes(f as string) && optionsValid && !noThread ? WORKS : REFUSED, () => stats.toBuffer(f as yappi.SaveFormat, arg as yappi.ExportOptions), 'toBuffer')
    }),
    150,
  )
})

test.serial('withTag() and setTagCallback(): any tag and callback; a bad tag from a callback tags nothing', async (t) => {
  const failure = new Error('the caller’s function failed')
  const fails = (): never => {
    throw failure
  }
  const body = fc.constantFrom<unknown>(() => 'result', fails, 'not a function')
  run(
    t,
    'withTag',
    fc.property(value, body, (makeTag, fn) => {
      const tag = open(makeTag)
      const valid = tag !== undefined && isTag(tag) && typeof fn === 'function'
      const expect = !valid ? REFUSED : fn === fails ? { passes: failure } : WORKS
      const result = check(expect, () => yappi.withTag(tag as string, fn as () => string), 'withTag')
      if ('works' in expect && result !== 'result') throw new Error('withTag did not return what fn returned')
    }),
    200,
  )
  yappi.clearStats()
  yappi.start({ threads: false, intervalUs: 200 })
  const returned = new Set<string>()
  try {
    for (const makeTag of fc.sample(value, { seed: SEED, numRuns: 60 })) {
      const tag = makeTag()
      if (tag !== undefined && isTag(tag)) returned.add(String(tag))
      check(WORKS, () => yappi.setTagCallback(() => tag as string), 'setTagCallback')
      await new Promise((resolve) => setImmediate(resolve))
      spinA(1)
      await Promise.resolve()
    }
  } finally {
    yappi.setTagCallback(null)
    yappi.stop()
  }
  // Stopped, so that the callbacks set here tag nothing: only whether they are taken matters.
  for (const makeCallback of fc.sample(value, { seed: SEED, numRuns: 60 })) {
    const callback = makeCallback()
    check(typeof callback === 'function' || callback === null ? WORKS : REFUSED, () => yappi.setTagCallback(callback as () => string), 'setTagCallback')
  }
  yappi.setTagCallback(null)
  const tags = yappi.getTagStats().map((stat) => stat.tag)
  t.true(
    tags.every((tag) => returned.has(tag)),
    `every tag recorded was a valid one returned by a callback: ${tags.filter((tag) => !returned.has(tag)).join(', ')} (replay with FUZZ_SEED=${SEED})`,
  )
})

test.serial('after all of it, correct use still works', async (t) => {
  yappi.clearStats()
  yappi.start()
  mixedWorkload(100)
  const stats = await yappi.snapshot({ name: /^[ABCD]$/ })
  t.true(yappi.stop())
  t.deepEqual(stats.toArray().map((stat) => stat.name).sort(), ['A', 'B', 'C', 'D'])
  const a = stats.find('A')!
  t.true(a.ttot > 0.03, `A ttot ${a.ttot} of a 60 ms share`)
  t.false(yappi.isRunning())
})
