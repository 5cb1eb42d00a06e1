import test from 'ava'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { Profile } from 'pprof-format'

import * as yappi from '../index'
import { spinA, spinB, spinC } from './workloads/burn'
import { savedReport } from './workloads/saved-report'

test.afterEach.always(() => {
  yappi.stop()
  yappi.clearStats()
})

/** Each bad value is refused with a YappiError that names the option; nothing starts. */
const BAD_START_OPTIONS: [string, unknown, RegExp][] = [
  ['clock', 'sundial', /^clock must be 'wall' or 'cpu', not "sundial"$/],
  ['clock', 1, /^clock must be/],
  ['intervalUs', 0, /^intervalUs must be a whole number of microseconds from 1 to 1000000, not 0$/],
  ['intervalUs', 2_000_000, /^intervalUs .* not 2000000$/],
  ['intervalUs', Number.NaN, /^intervalUs .* not NaN$/],
  ['intervalUs', '100', /^intervalUs .* not "100"$/],
  ['builtins', 'yes', /^builtins must be true or false, not "yes"$/],
  ['threads', 1, /^threads must be true or false, not 1$/],
  ['rotateIntervalMs', 5, /^rotateIntervalMs must be a whole number of milliseconds from 10 to 3600000, not 5$/],
  ['rotateIntervalMs', Infinity, /^rotateIntervalMs .* not Infinity$/],
  ['rotationBudget', 0, /^rotationBudget must be a share of the thread's time from 0.0001 to 1, not 0$/],
  ['rotationBudget', 2, /^rotationBudget .* not 2$/],
  ['rotationBudget', Number.NaN, /^rotationBudget .* not NaN$/],
  ['maxRotateIntervalMs', 5, /^maxRotateIntervalMs must be a whole number of milliseconds from 10 to 3600000, not 5$/],
  ['maxRotateIntervalMs', 500, /^maxRotateIntervalMs \(500\) must not be below rotateIntervalMs \(1000\)$/],
  ['deoptimize', 'no', /^deoptimize must be true or false, not "no"$/],
  ['keepV8Profiler', 1, /^keepV8Profiler must be true or false, not 1$/],
  ['maxMemoryBytes', 1024, /^maxMemoryBytes must be a whole number of bytes from 65536 to \d+, not 1024$/],
  ['maxMemoryBytes', -1, /^maxMemoryBytes .* not -1$/],
  ['maxMemoryBytes', 10n, /^maxMemoryBytes .* not 10n$/],
  ['counts', 'precise', /^counts must be 'estimated' or 'exact', not "precise"$/],
  ['counts', true, /^counts must be 'estimated' or 'exact', not true$/],
]

test.serial('every option of start() is checked, and the error names it', (t) => {
  for (const [name, value, message] of BAD_START_OPTIONS) {
    const error = t.throws(() => yappi.start({ [name]: value } as yappi.StartOptions), { instanceOf: yappi.YappiError, message })
    t.true(error?.message.startsWith(name), `${name}: ${error?.message}`)
    t.false(yappi.isRunning())
  }
})

test.serial('unknown option names and non-object options are refused', (t) => {
  t.throws(() => yappi.start({ interval: 5 } as yappi.StartOptions), {
    instanceOf: yappi.YappiError,
    message: /^unknown option "interval"; known options: clock, intervalUs, builtins, rotateIntervalMs, rotationBudget, maxRotateIntervalMs, deoptimize, keepV8Profiler, maxMemoryBytes, threads, counts, stallThresholdMs, maxStalls$/,
  })
  for (const options of ['fast', 42, null, [1]]) {
    t.throws(() => yappi.start(options as yappi.StartOptions), { instanceOf: yappi.YappiError, message: /^options must be an object/ })
  }
  t.throws(() => yappi.profile(() => 1, { threads: false } as yappi.ProfileOptions), { instanceOf: yappi.YappiError, message: /^unknown option "threads"/ })
  t.false(yappi.isRunning())
})

test.serial('filters: keys, value types and thread ids are checked', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ name: 42 }, /^filter\.name must be a string or a RegExp, not 42$/],
    [{ module: {} }, /^filter\.module must be a string or a RegExp, not an object$/],
    [{ thread: 0 }, /^unknown filter key "thread"; known filter keys: name, module, threadId, tag, maxAgeMs$/],
    [{ threadId: -1 }, /^filter\.threadId must be a thread id/],
    [{ maxAgeMs: -1 }, /^filter\.maxAgeMs must be a number of milliseconds >= 0 \(Infinity: any age\), not -1$/],
    [{ maxAgeMs: "5" }, /^filter\.maxAgeMs .* not "5"$/],
    [{ threadId: [0, 1.5] }, /^filter\.threadId must be a thread id/],
    ['main', /^filter must be an object, not "main"$/],
    [null, /^filter must be an object, not null$/],
  ]
  for (const [filter, message] of cases) {
    t.throws(() => yappi.getFuncStats(filter as yappi.FuncFilter), { instanceOf: yappi.YappiError, message })
  }
  const stats = yappi.getFuncStats()
  t.throws(() => stats.filter({ threadId: 0 } as yappi.FuncFilter), { instanceOf: yappi.YappiError, message: /filter\.threadId/ })
  t.throws(() => stats.filter(7 as unknown as yappi.FuncPredicate), { instanceOf: yappi.YappiError, message: /^filter must be a function or an object/ })
})

test.serial('getThreadStats options are checked', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ maxAgeMs: -1 }, /^options\.maxAgeMs must be a number of milliseconds >= 0 \(Infinity: any age\), not -1$/],
    [{ maxAgeMs: NaN }, /^options\.maxAgeMs .* not NaN$/],
    [{ threadId: 0 }, /^unknown option "threadId"; known options: maxAgeMs$/],
    [7, /^options must be an object, not 7$/],
  ]
  for (const [options, message] of cases) {
    t.throws(() => yappi.getThreadStats(options as yappi.ThreadStatsOptions), { instanceOf: yappi.YappiError, message })
  }
  t.true(yappi.getThreadStats({ maxAgeMs: Infinity }) instanceof yappi.ThreadStats)
})

test.serial('sort keys and orders are checked, for functions and threads', (t) => {
  const stats = yappi.getFuncStats()
  t.throws(() => stats.sort('speed'), { instanceOf: yappi.YappiError, message: /^cannot sort by "speed"; sort keys: name, module/ })
  t.throws(() => stats.sort(3 as unknown as string), { instanceOf: yappi.YappiError, message: /^cannot sort by 3/ })
  t.throws(() => stats.sort('ttot', 'up'), { instanceOf: yappi.YappiError, message: /^sort order must be 'asc' or 'desc', not "up"$/ })
  t.throws(() => stats.sort((stat) => stat.ttot, 'sideways'), { instanceOf: yappi.YappiError, message: /^sort order/ })
  t.notThrows(() => stats.sort('TotalTime', 'ASC'), "yappi's aliases, any case")
  const threads = yappi.getThreadStats()
  t.throws(() => threads.sort('cpu' as yappi.ThreadSortKey), { instanceOf: yappi.YappiError, message: /^cannot sort threads by "cpu"/ })
  t.throws(() => threads.sort('id', 'up'), { instanceOf: yappi.YappiError, message: /^sort order/ })
})

test.serial('print options are checked', (t) => {
  const stats = yappi.getFuncStats()
  t.throws(() => stats.format({ limit: -1 }), { instanceOf: yappi.YappiError, message: /^limit must be a whole number >= 0, not -1$/ })
  t.throws(() => stats.format({ columns: [] }), { instanceOf: yappi.YappiError, message: /^columns must be a non-empty list/ })
  t.throws(() => stats.format({ columns: [['ttot', 2]] }), { instanceOf: yappi.YappiError, message: /^width of column ttot must be a whole number from 3 to 1000, not 2$/ })
  t.throws(() => stats.format({ columns: ['speed' as yappi.Column] }), { instanceOf: yappi.YappiError, message: /^unknown column "speed"/ })
})

const SPINS = ['spinA', 'spinB', 'spinC']

function names(stats: Iterable<yappi.FuncStat>): string[] {
  return [...stats].map((stat) => stat.name).sort()
}

function spinAll(): void {
  yappi.start({ threads: false, intervalUs: 200 })
  spinA(30)
  spinB(30)
  spinC(30)
  yappi.stop()
}

const DIR = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-validation-'))
test.after.always(() => fs.rmSync(DIR, { recursive: true, force: true }))
let files = 0

/** Writes a saved-stats file and returns its path. */
function writeReport(json: string): string {
  const file = path.join(DIR, `stats-${files++}.json`)
  fs.writeFileSync(file, json)
  return file
}

const KNOWN = savedReport([
  {
    id: 0,
    functions: [
      { name: 'foo1', selfNs: 1e6, calls: 777 },
      { name: 'foo2', selfNs: 2e6, calls: 1 },
      { name: 'foo3', selfNs: 3e6, calls: 1 },
      { name: 'bar', selfNs: 4e6, calls: 1 },
    ],
  },
])

test.serial('a global or sticky RegExp filter finds every match, not every other one', (t) => {
  spinAll()
  t.deepEqual(names(yappi.getFuncStats({ name: /^spin[ABC]$/ })), SPINS)
  for (const flags of ['g', 'y', 'gy', 'gi']) {
    const pattern = new RegExp('^spin[ABC]$', flags)
    t.deepEqual(names(yappi.getFuncStats({ name: pattern })), SPINS, `getFuncStats, flags ${flags}`)
    t.deepEqual(names(yappi.getFuncStats().filter({ name: pattern })), SPINS, `stats.filter, flags ${flags}`)
  }
  const loaded = yappi.load(writeReport(JSON.stringify(KNOWN)))
  t.deepEqual(names(loaded.filter({ name: /foo/g })), ['foo1', 'foo2', 'foo3'])
  t.is(loaded.filter({ module: /known/g }).length, 4)
  t.is(loaded.filter({ name: Object.freeze(/foo/) }).length, 3, 'a frozen RegExp without state works')
  t.throws(() => loaded.filter({ name: Object.freeze(/foo/g) }), {
    instanceOf: yappi.YappiError,
    message: /^filter\.name is a frozen global or sticky RegExp/,
  })
})

test.serial('thread ids are whole numbers; an id no thread has selects nothing, never another thread', (t) => {
  spinAll()
  const main = yappi.getFuncStats({ threadId: 0 })
  t.true(main.length > 0)
  const mainPprof = Profile.decode(gunzipSync(main.toBuffer('pprof', { threadId: 0 })))
  t.true(mainPprof.sample.length > 0)
  for (const id of [2 ** 32, 2 ** 32 + 1, 2 ** 40, Number.MAX_SAFE_INTEGER, 12345]) {
    t.is(yappi.getFuncStats({ threadId: id }).length, 0, `thread ${id}`)
    t.is(yappi.getFuncStats({ threadId: [id] }).length, 0, `[thread ${id}]`)
    t.deepEqual(yappi.getTagStats({ threadId: id }), [])
    const pprof = Profile.decode(gunzipSync(main.toBuffer('pprof', { threadId: id })))
    t.is(pprof.sample.length, 0, `pprof of thread ${id}`)
    t.throws(() => main.toBuffer('cpuprofile', { threadId: id }), { instanceOf: yappi.YappiError, message: /no thread/ })
  }
  t.is(yappi.getFuncStats({ threadId: [0, 2 ** 32] }).length, main.length, 'the existing thread of a list is read')
  for (const id of [2 ** 53, -1, 1.5, Number.NaN, '0', 0n]) {
    t.throws(() => yappi.getFuncStats({ threadId: id as number }), { instanceOf: yappi.YappiError, message: /^filter\.threadId must be a thread id/ })
    t.throws(() => main.toBuffer('pprof', { threadId: id as number }), { instanceOf: yappi.YappiError, message: /^threadId must be a thread id/ })
  }
})

/** A Proxy that was revoked: any look at it throws a TypeError. */
function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

test.serial('arguments that cannot be read are refused with a YappiError, never a raw TypeError', (t) => {
  spinAll()
  const stats = yappi.getFuncStats()
  const threads = yappi.getThreadStats()
  const calls: [string, (value: unknown) => unknown][] = [
    ['start', (value) => yappi.start(value as yappi.StartOptions)],
    ['profile', (value) => yappi.profile(() => 1, value as yappi.ProfileOptions)],
    ['getFuncStats', (value) => yappi.getFuncStats(value as yappi.FuncFilter)],
    ['getTagStats', (value) => yappi.getTagStats(value as { threadId: number })],
    ['filter', (value) => stats.filter(value as yappi.FuncFilter)],
    ['format', (value) => stats.format(value as yappi.PrintOptions)],
    ['print', (value) => stats.print(value as yappi.PrintOptions)],
    ['thread table', (value) => threads.format(value as yappi.PrintOptions)],
    ['toBuffer', (value) => stats.toBuffer('json', value as yappi.ExportOptions)],
  ]
  const throwing = { get clock(): never { throw new Error('getter says no') } }
  for (const [name, call] of calls) {
    t.throws(() => call(revoked()), { instanceOf: yappi.YappiError, message: /could not be read: .*revoked/ }, name)
    t.throws(() => call(new Proxy({}, { ownKeys: () => { throw new Error('no keys') } })), { instanceOf: yappi.YappiError, message: /could not be read: no keys/ }, name)
    t.throws(() => call([]), { instanceOf: yappi.YappiError, message: /must be an object, not an array/ }, name)
    t.throws(() => call(Object.create({ limit: 1, clock: 'cpu', name: 'x', threadId: 0 })), { instanceOf: yappi.YappiError, message: /must be a plain object/ }, name)
    t.throws(() => call(42), { instanceOf: yappi.YappiError, message: /must be (a function or )?an object.*, not 42$/ }, name)
    t.false(yappi.isRunning())
  }
  t.throws(() => yappi.start(throwing as yappi.StartOptions), { instanceOf: yappi.YappiError, message: /^options\.clock could not be read: getter says no$/ })
  t.throws(() => yappi.getFuncStats({ name: revoked() as RegExp }), { instanceOf: yappi.YappiError, message: /^filter\.name could not be read/ })
  t.throws(() => stats.format({ columns: revoked() as yappi.Column[] }), { instanceOf: yappi.YappiError, message: /^columns could not be read/ })
  t.throws(() => stats.sort(revoked() as unknown as string), { instanceOf: yappi.YappiError, message: /^cannot sort by a revoked Proxy/ })
  t.throws(() => yappi.withTag(revoked() as unknown as string, () => 1), { instanceOf: yappi.YappiError, message: /^a tag must be a string or a finite number, not a revoked Proxy/ })
})

test.serial('each option is read once: a getter that changes its value cannot pass the check with one value and be used with another', (t) => {
  let reads = 0
  const options = {
    get clock() {
      reads++
      return reads === 1 ? 'cpu' : 42
    },
    threads: false,
  }
  yappi.start(options as unknown as yappi.StartOptions)
  spinA(20)
  yappi.stop()
  t.is(reads, 1)
  t.is(yappi.getFuncStats().clock, 'cpu')
})

test.serial('keys of the wrong call and unknown keys are refused; null-prototype objects are plain', (t) => {
  spinAll()
  const stats = yappi.getFuncStats()
  t.throws(() => yappi.getTagStats({ threadID: 1 } as unknown as { threadId: number }), {
    instanceOf: yappi.YappiError,
    message: /^unknown filter key "threadID"; known filter keys: threadId$/,
  })
  t.throws(() => stats.print({ bogus: 1 } as yappi.PrintOptions), { instanceOf: yappi.YappiError, message: /^unknown print option "bogus"; known print options: limit, columns, out$/ })
  t.throws(() => yappi.getThreadStats().format({ columns: ['name'] } as yappi.PrintOptions), { instanceOf: yappi.YappiError, message: /^unknown print option "columns"/ })
  t.throws(() => stats.toBuffer('json', { thread: 0 } as yappi.ExportOptions), { instanceOf: yappi.YappiError, message: /^unknown option "thread"; known options: threadId$/ })
  t.throws(() => stats.find(42 as unknown as string), { instanceOf: yappi.YappiError, message: /^find\(\) needs a function name/ })
  const bare = Object.assign(Object.create(null) as object, { threads: false, intervalUs: 500 })
  t.notThrows(() => yappi.start(bare as yappi.StartOptions))
  t.true(yappi.stop())
  t.is(yappi.getFuncStats(Object.freeze({ name: 'spinA' })).length, 1, 'frozen filters are read as any other')
})

test.serial('print: widths are bounded, out must have write(), and what out.write throws is the caller’s', (t) => {
  spinAll()
  const stats = yappi.getFuncStats()
  t.throws(() => stats.format({ columns: [['name', 2 ** 30]] }), { instanceOf: yappi.YappiError, message: /^width of column name must be a whole number from 3 to 1000, not 1073741824$/ })
  t.true(stats.format({ columns: [['name', 1000]] }).includes('spinA'))
  for (const out of [{}, { write: 'no' }, null, 42]) {
    t.throws(() => stats.print({ out } as unknown as yappi.PrintOptions), { instanceOf: yappi.YappiError, message: /^out must be an object with a write\(text\) method/ })
  }
  const failure = new Error('disk full')
  t.is(t.throws(() => stats.print({ out: { write: () => { throw failure } } })), failure)
  let printed = ''
  stats.print({ out: { write: (text: string) => (printed += text) }, limit: 1 })
  t.regex(printed, /^name\s+module/m)
})

test.serial('a sort key function that returns what cannot be ordered leaves the order and says why', (t) => {
  spinAll()
  const stats = yappi.getFuncStats()
  const before = stats.toArray().map((stat) => stat.id)
  const unordered: unknown[] = [Symbol('s'), 10n, { valueOf: () => { throw new Error('no value') } }, Number.NaN, undefined, null, {}]
  for (const value of unordered) {
    yappi.clearFaults()
    t.notThrows(() => stats.sort(() => value as number))
    t.deepEqual(stats.toArray().map((stat) => stat.id), before, `order kept for ${String(typeof value)}`)
    const [fault] = yappi.getFaults().faults
    t.is(fault?.where, 'sort')
    t.regex(fault?.message ?? '', /^the sort key function returned .* for .*; it must return a number or a string$/)
  }
  stats.sort((stat) => stat.name, 'asc')
  t.deepEqual(stats.toArray().map((stat) => stat.name), [...stats.toArray().map((stat) => stat.name)].sort((a, b) => a.localeCompare(b)))
})

test.serial('a tag callback returning NaN or an infinity tags nothing, as withTag refuses them', async (t) => {
  yappi.start({ threads: false, intervalUs: 200 })
  for (const tag of [Number.NaN, Infinity, -Infinity]) {
    yappi.clearFaults()
    yappi.setTagCallback(() => tag)
    await new Promise((resolve) => setTimeout(resolve, 5))
    spinA(20)
    await Promise.resolve()
    t.regex(yappi.getFaults().faults[0]?.message ?? '', /must return a string, a finite number or undefined, not (NaN|-?Infinity)/)
    t.throws(() => yappi.withTag(tag, () => 1), { instanceOf: yappi.YappiError })
  }
  yappi.setTagCallback(null)
  yappi.stop()
  t.deepEqual(yappi.getTagStats(), [])
})

test.serial('load() refuses counts past 2^53 and a thread twice; 2^53 itself loads exactly', (t) => {
  const text = JSON.stringify(KNOWN)
  const count = (n: string) => text.replace('"ncall":777,', `"ncall":${n},`)
  for (const n of ['18446744073709551615', '9007199254740993']) {
    t.throws(() => yappi.load(writeReport(count(n))), { instanceOf: yappi.YappiError, message: new RegExp(`a damaged yappi-node stats file: thread 0 holds the number ${n}, past 2\\^53`) })
  }
  t.is(yappi.load(writeReport(count('9007199254740992'))).find('foo1')?.ncall, 2 ** 53)
  const twice = JSON.stringify({ ...KNOWN, threads: [...(KNOWN.threads as object[]), ...(KNOWN.threads as object[])] })
  t.throws(() => yappi.load(writeReport(twice)), { instanceOf: yappi.YappiError, message: /thread 0 appears twice/ })
  const file = writeReport(text)
  t.is(yappi.load(file, file).find('foo1')?.ncall, 2 * 777, 'the same thread in two files adds up, as yappi adds runs')
})
