// Decoding, sorting and filtering of src/stats.ts on a recorded engine output
// (__test__/fixtures/engine-output.json, written by scripts/record-engine-output.js): no profiling.
// The truth the decoding is held against is the same session's `json` export, which the engine
// writes by another path (report.rs, not encode.rs).
import test from 'ava'

import type { CallNumbers, FuncStat, SortKey } from '../src/rows'
import { native } from '../src/native'
import { decodeFuncStats } from '../src/stats'
import { recordedFuncStats as decoded, recordedTagStats, recordedThreadStats, recording, type RecordedStats as Stats } from './support/recording'

const { report } = recording
const fullName = (f: { module: string; line: number; name: string }): string => `${f.module}:${f.line} ${f.name}`
const NS = 1e9

/** The report's stats summed over threads, by full name (of both ends, for edges). */
function reportSums(): { funcs: Map<string, Stats>; edges: Map<string, Stats> } {
  const add = (map: Map<string, Stats>, key: string, s: Stats) => {
    const sum = map.get(key) ?? { ncall: 0, nactual: 0, ttot_ns: 0, tsub_ns: 0, samples: 0, samples_total: 0 }
    for (const field of Object.keys(sum) as (keyof Stats)[]) sum[field] += s[field]
    map.set(key, sum)
  }
  const funcs = new Map<string, Stats>()
  const edges = new Map<string, Stats>()
  const listed = (index: number) => report.functions[index].kind !== 'idle'
  for (const thread of report.threads) {
    for (const [index, s] of thread.funcs) if (listed(index)) add(funcs, fullName(report.functions[index]), s)
    for (const [caller, callee, s] of thread.edges) {
      if (listed(caller) && listed(callee)) add(edges, `${fullName(report.functions[caller])} -> ${fullName(report.functions[callee])}`, s)
    }
  }
  return { funcs, edges }
}

function numbersOf(stat: CallNumbers): Stats {
  return { ncall: stat.ncall, nactual: stat.nactualcall, ttot_ns: Math.round(stat.ttot * NS), tsub_ns: Math.round(stat.tsub * NS), samples: stat.samples, samples_total: stat.samplesTotal }
}

test('the recording is of a real run: recursion, loops and two tags', (t) => {
  const stats = decoded()
  t.true(stats.length >= 6)
  t.true(stats.find('recordedRecursive')!.ncall > stats.find('recordedRecursive')!.nactualcall, 'recursive calls are counted apart')
  t.deepEqual(
    recordedTagStats().map((tag) => tag.tag).sort(),
    ['outer', 'recursive'],
  )
})

test('decoded functions are the export\'s: the same rows, places, kinds and numbers', (t) => {
  const stats = decoded()
  const sums = reportSums()
  t.is(stats.length, sums.funcs.size)
  t.is(stats.clock as string, report.clock)
  for (const stat of stats) {
    const described = report.functions.find((f) => fullName(f) === stat.fullName && f.column === stat.column)
    t.truthy(described, stat.fullName)
    t.is(stat.kind as string, described!.kind)
    t.deepEqual(numbersOf(stat), sums.funcs.get(stat.fullName), stat.fullName)
    t.is(stat.tavg, stat.ncall > 0 ? stat.ttot / stat.ncall : 0)
    t.false(stat.callsExact, 'a sampled session counts nothing exactly')
  }
})

test('decoded call edges are the export\'s, seen from both ends', (t) => {
  const stats = decoded()
  const { edges } = reportSums()
  let seen = 0
  for (const stat of stats) {
    for (const callee of stat.callees) {
      t.deepEqual(numbersOf(callee), edges.get(`${stat.fullName} -> ${callee.fullName}`))
      const back = stats.toArray().find((other) => other.id === callee.id)!.callers.find((caller) => caller.id === stat.id)
      t.deepEqual(back && numbersOf(back), numbersOf(callee), 'the callee sees the same edge')
      seen++
    }
  }
  t.is(seen, edges.size)
})

test('decoded threads are the export\'s totals', (t) => {
  const threads = recordedThreadStats().toArray()
  t.deepEqual(threads.map((thread) => [thread.id, thread.name]), report.threads.map((thread) => [thread.id, thread.name]))
  for (const thread of threads) {
    const totals = report.threads.find((other) => other.id === thread.id)!.totals
    t.is(Math.round(thread.wallTime * NS), totals.wall_ns)
    t.is(Math.round(thread.cpuTime * NS), totals.cpu_ns)
    t.is(Math.round(thread.idleTime * NS), totals.idle_ns)
    t.is(thread.samples, totals.samples)
    t.is(thread.profiles, totals.profiles)
    t.is(Math.round(thread.profilerTime * NS), totals.profiler_ns)
    t.is(Math.round(thread.maxSampleGap * NS), totals.max_gap_ns)
  }
})

test('a tag accounts for every sample of the code that ran under it, and tags come largest first', (t) => {
  const tags = recordedTagStats()
  const stats = decoded()
  const under = { outer: 'recordedOuter', recursive: 'recordedRecursive' } as const
  for (const tag of tags) {
    const root = stats.find(under[tag.tag as keyof typeof under])!
    t.true(tag.samples >= root.samplesTotal, `${tag.tag}: ${tag.samples} samples, ${root.name} ${root.samplesTotal}`)
    t.true(tag.time >= root.ttot - 1e-9)
  }
  t.true(tags.every((tag, i) => i === 0 || tags[i - 1].time >= tag.time))
  const thread = recordedThreadStats().toArray()[0]
  t.true(tags.reduce((sum, tag) => sum + tag.samples, 0) <= thread.samples)
})

const SORT_KEYS: SortKey[] = ['name', 'module', 'line', 'ncall', 'nactualcall', 'ttot', 'tsub', 'tavg', 'samples', 'samplesTotal']

test('every sort key orders the rows by it, both ways, keeping every row', (t) => {
  const ids = decoded().toArray().map((stat) => stat.id).sort()
  for (const key of SORT_KEYS) {
    for (const order of ['asc', 'desc'] as const) {
      const rows = decoded().sort(key, order).toArray()
      t.deepEqual(rows.map((stat) => stat.id).sort(), ids, `${key} ${order} keeps every row`)
      const value = (stat: FuncStat) => stat[key]
      const inOrder = rows.every((stat, i) => {
        if (i === 0) return true
        const [a, b] = [value(rows[i - 1]), value(stat)]
        const cmp = typeof a === 'string' ? a.localeCompare(b as string, undefined, { sensitivity: 'base' }) : a - (b as number)
        return order === 'asc' ? cmp <= 0 : cmp >= 0
      })
      t.true(inOrder, `${key} ${order}: ${rows.map(value).join(', ')}`)
      t.deepEqual(decoded().sort(key, order).sortedBy, { key, order })
    }
  }
})

test('sorting by a function of the row, and yappi\'s aliases, order as documented', (t) => {
  const byColumn = decoded().sort((stat) => stat.column, 'asc').toArray().map((stat) => stat.column)
  t.deepEqual(byColumn, [...byColumn].sort((a, b) => a - b))
  t.deepEqual(decoded().sort('totaltime', 'descending').toArray(), decoded().sort('ttot', 'desc').toArray())
})

test('filters keep exactly the rows they match, by name or module, string, RegExp or predicate', (t) => {
  const all = decoded().toArray()
  const names = (rows: Iterable<FuncStat>) => [...rows].map((stat) => stat.fullName).sort()
  t.deepEqual(names(decoded().filter({ name: /^recorded/ })), names(all.filter((stat) => /^recorded/.test(stat.name))))
  t.deepEqual(names(decoded().filter({ name: 'burn' })), names(all.filter((stat) => stat.name === 'burn')))
  t.deepEqual(names(decoded().filter({ module: /record-engine-output/ })), names(all.filter((stat) => /record-engine-output/.test(stat.module))))
  t.deepEqual(names(decoded().filter((stat) => stat.samples > 0)), names(all.filter((stat) => stat.samples > 0)))
  t.is(decoded().filter({ name: 'no such function' }).length, 0)
})

test('a read starts in the order sort(\'ttot\') gives: equal inclusive times by name, not by when the functions were first seen', (t) => {
  const thread = { id: 4711, name: 'order' }
  native.forgetThread('profile', thread.id)
  // Four leaves of 1 ms each, met in the reverse of their names' order (a surrogate pair sorts
  // before U+FF5A in UTF-16, after it by code point), and one of 2 ms.
  const names = ['\uff5a', '\u{1d4e9}', 'zeta', 'alpha', 'longest']
  const frames = JSON.stringify([['(root)', '', '0', -1, -1], ...names.map((name) => [name, 'file:///order.js', '1', 1, 1])])
  const nodeParent = Uint32Array.from([0xffffffff, 0, 0, 0, 0, 0])
  const nodeFrame = Uint32Array.from([0, 1, 2, 3, 4, 5])
  const samples = Uint32Array.from([1, 2, 3, 4, 5, 5])
  const timeDeltas = Float64Array.from([0, 1000, 1000, 1000, 1000, 1000])
  native.ingestFlat('profile', thread, { frames, nodeParent, nodeFrame, samples, timeDeltas, startTime: 0, endTime: 6000 }, { showBuiltins: false, ownCodePrefixes: [], cpuClock: false })
  const stats = decodeFuncStats(native.funcStats('profile', [thread.id]), undefined, { scope: 'profile', threads: [thread.id] })
  native.forgetThread('profile', thread.id)
  const read = stats.toArray().map((f) => f.name)
  t.deepEqual(read, ['longest', 'alpha', 'zeta', '\u{1d4e9}', '\uff5a'])
  t.deepEqual(stats.sort('ttot', 'desc').toArray().map((f) => f.name), read)
})
