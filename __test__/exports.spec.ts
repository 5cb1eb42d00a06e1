import test from 'ava'
import Ajv from 'ajv'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { Profile } from 'pprof-format'

import * as yappi from '../index'
import { sharePointsSlack } from './support/sampling'
import { anonymousPair, mixedWorkload } from './workloads/burn'

// One profile of a workload with a known split (A 60% incl. B 30%, C 10%, D 30% of its run),
// saved in every format; each test reads one file back with the tool made for it.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-exports-'))
// The workload's file as stats name it: the TypeScript source, through its source map.
let burnFile = ''
let stats: yappi.FuncStats
let wallMs = 0
let slackPoints = 5

test.before(() => {
  yappi.start({ intervalUs: 500, threads: false })
  const begin = process.hrtime.bigint()
  mixedWorkload(600)
  wallMs = Number(process.hrtime.bigint() - begin) / 1e6
  stats = yappi.getFuncStats()
  const main = yappi.getThreadStats().get(0)!
  yappi.stop()
  slackPoints = sharePointsSlack(main, 500, wallMs / 1000)
  burnFile = stats.find('A')!.module
  stats.save(path.join(dir, 'profile.pb.gz'))
  stats.save(path.join(dir, 'callgrind.out.1'))
  stats.save(path.join(dir, 'profile.cpuprofile'))
  stats.save(path.join(dir, 'profile.speedscope.json'))
  stats.save(path.join(dir, 'profile.collapsed'))
  stats.save(path.join(dir, 'profile.json'))
})

test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }))

const NAMES = ['A', 'B', 'C', 'D'] as const
const TRUTH = { A: 60, B: 30, C: 10, D: 30 }

function ms(name: string, field: 'ttot' | 'tsub'): number {
  return stats.find(name, burnFile)![field] * 1000
}

/** A tool's figure must match the stats (within its rounding) and the workload's known split. */
function agrees(t: import('ava').ExecutionContext, name: string, toolMs: number, field: 'ttot' | 'tsub', slackMs: number): void {
  t.true(Math.abs(toolMs - ms(name, field)) <= slackMs, `${name} ${field}: tool ${toolMs.toFixed(2)} ms vs stats ${ms(name, field).toFixed(2)} ms`)
}

test('go tool pprof reads the pprof file: inclusive times of the known functions', (t) => {
  const top = execFileSync('go', ['tool', 'pprof', '-top', '-cum', '-unit=ms', '-nodecount=200', path.join(dir, 'profile.pb.gz')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.log(top.split('\n').slice(0, 12).join('\n'))
  t.regex(top, /Type: wall/)
  for (const name of NAMES) {
    // "   flat  flat%   sum%        cum   cum%  name"
    const row = top.split('\n').find((line) => line.trim().split(/\s+/).at(-1) === name)
    t.truthy(row, `${name} is in pprof's top`)
    const cumMs = Number.parseFloat(row!.trim().split(/\s+/)[3])
    agrees(t, name, cumMs, 'ttot', 1)
    const share = (100 * cumMs) / wallMs
    t.true(Math.abs(share - TRUTH[name]) <= slackPoints, `${name} ${share.toFixed(1)}% vs ${TRUTH[name]}% ± ${slackPoints.toFixed(1)}`)
  }
})

test('go tool pprof: inclusive samples of a function are its samplesTotal, which load() keeps', (t) => {
  const top = execFileSync('go', ['tool', 'pprof', '-top', '-cum', '-sample_index=samples', '-nodecount=200', path.join(dir, 'profile.pb.gz')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const loaded = yappi.load(path.join(dir, 'profile.json'))
  for (const name of NAMES) {
    const row = top.split('\n').find((line) => line.trim().split(/\s+/).at(-1) === name)
    t.truthy(row, `${name} is in pprof's top`)
    const [flat, , , cum] = row!.trim().split(/\s+/).map(Number)
    const stat = stats.find(name, burnFile)!
    t.deepEqual([flat, cum], [stat.samples, stat.samplesTotal], `${name}: pprof's flat and cum samples`)
    t.is(loaded.find(name, burnFile)!.samplesTotal, stat.samplesTotal)
  }
  t.true(stats.find('A', burnFile)!.samplesTotal > stats.find('A', burnFile)!.samples, "A's callee's samples are in its total")
})

test('pprof-format decodes the profile: sample types, function names, files and lines', (t) => {
  const profile = Profile.decode(gunzipSync(fs.readFileSync(path.join(dir, 'profile.pb.gz'))))
  const strings = profile.stringTable.strings
  t.deepEqual(
    profile.sampleType.map((type) => [strings[Number(type.type)], strings[Number(type.unit)]]),
    [
      ['samples', 'count'],
      ['wall', 'nanoseconds'],
    ],
  )
  for (const name of NAMES) {
    const fn = profile.function.find((f) => strings[Number(f.name)] === name && strings[Number(f.filename)] === burnFile)
    t.truthy(fn, `${name} of ${burnFile}`)
    t.is(Number(fn!.startLine), stats.find(name, burnFile)!.line)
  }
  // Self time: the samples whose leaf (first location) is the function.
  const functionOfLocation = new Map(profile.location.map((location) => [Number(location.id), Number(location.line[0].functionId)]))
  for (const name of NAMES) {
    const id = Number(profile.function.find((f) => strings[Number(f.name)] === name)!.id)
    const selfNs = profile.sample
      .filter((sample) => functionOfLocation.get(Number(sample.locationId[0])) === id)
      .reduce((sum, sample) => sum + Number(sample.value[1]), 0)
    agrees(t, name, selfNs / 1e6, 'tsub', 1e-3)
  }
})

test('callgrind_annotate reads the callgrind file: self and inclusive costs', (t) => {
  const file = path.join(dir, 'callgrind.out.1')
  const annotate = (inclusive: boolean) =>
    execFileSync('callgrind_annotate', [`--inclusive=${inclusive ? 'yes' : 'no'}`, '--threshold=100', '--auto=no', file], { encoding: 'utf8' })
  // Rows of the function table: "cost (pct) samples (pct)  file:function", the file shortened.
  const costOf = (output: string, name: string) => {
    const row = output.split('\n').find((line) => line.endsWith(`${path.basename(burnFile)}:${name}`) && burnFile.endsWith(line.trim().split(/\s+/).at(-1)!.split(':')[0]))
    if (!row) throw new Error(`${name} missing from:\n${output}`)
    return Number(row.trim().split(/\s+/)[0].replace(/,/g, '')) / 1e6
  }
  const self = annotate(false)
  const inclusive = annotate(true)
  t.log(self.split('\n').filter((line) => line.includes(burnFile)).slice(0, 6).join('\n'))
  for (const name of NAMES) {
    agrees(t, name, costOf(self, name), 'tsub', 0.01)
    agrees(t, name, costOf(inclusive, name), 'ttot', 0.01)
  }
  t.regex(fs.readFileSync(file, 'utf8'), /calls=\d+ \d+/)
})

test("the speedscope file passes speedscope's own file-format schema and weighs each function right", (t) => {
  const schema = JSON.parse(fs.readFileSync(require.resolve('speedscope/dist/release/file-format-schema.json'), 'utf8'))
  const file = JSON.parse(fs.readFileSync(path.join(dir, 'profile.speedscope.json'), 'utf8'))
  const validate = new Ajv({ allowUnionTypes: true, strict: false }).compile(schema)
  t.true(validate(file), JSON.stringify(validate.errors))
  t.is(file.profiles.length, 1)
  const frames: { name: string; file?: string }[] = file.shared.frames
  const [profile] = file.profiles
  for (const name of NAMES) {
    const index = frames.findIndex((frame) => frame.name === name && frame.file === `file://${burnFile}`)
    let inclusiveNs = 0
    profile.samples.forEach((stack: number[], k: number) => {
      if (stack.includes(index)) inclusiveNs += profile.weights[k]
    })
    agrees(t, name, inclusiveNs / 1e6, 'ttot', 0.01)
  }
})

test('the .cpuprofile is a well-formed DevTools profile whose samples add up to the self times', (t) => {
  const profile = JSON.parse(fs.readFileSync(path.join(dir, 'profile.cpuprofile'), 'utf8'))
  const ids = new Set<number>(profile.nodes.map((node: { id: number }) => node.id))
  t.is(ids.size, profile.nodes.length, 'node ids are unique')
  for (const node of profile.nodes) for (const child of node.children ?? []) t.true(ids.has(child))
  t.is(profile.samples.length, profile.timeDeltas.length)
  t.true(profile.samples.every((id: number) => ids.has(id)))
  // DevTools' model: a sample lasts until the next one (the last until endTime).
  const selfUs = new Map<number, number>()
  let time = profile.startTime
  profile.samples.forEach((id: number, k: number) => {
    time += profile.timeDeltas[k]
    const next = k + 1 < profile.samples.length ? time + profile.timeDeltas[k + 1] : profile.endTime
    selfUs.set(id, (selfUs.get(id) ?? 0) + next - time)
  })
  for (const name of NAMES) {
    const nodes = profile.nodes.filter((node: { callFrame: { functionName: string } }) => node.callFrame.functionName === name)
    const totalUs = nodes.reduce((sum: number, node: { id: number }) => sum + (selfUs.get(node.id) ?? 0), 0)
    agrees(t, name, totalUs / 1000, 'tsub', 0.01 * nodes.length)
  }
})

test('collapsed stacks: one line per path, self time in µs, inclusive time of A as in the stats', (t) => {
  const lines = fs.readFileSync(path.join(dir, 'profile.collapsed'), 'utf8').trim().split('\n')
  let aUs = 0
  for (const line of lines) {
    const [stack, count] = [line.slice(0, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1))]
    t.true(Number.isInteger(count) && count > 0, line)
    if (stack.split(';').some((frame) => frame.startsWith(`A (${burnFile}:`))) aUs += count
  }
  agrees(t, 'A', aUs / 1000, 'ttot', 0.001 * lines.length + 0.01)
})

test('json reads back with load(), adds up with more files, and never changes the live stats', (t) => {
  const file = path.join(dir, 'profile.json')
  const loaded = yappi.load(file)
  for (const name of NAMES) agrees(t, name, loaded.find(name, burnFile)!.ttot * 1000, 'ttot', 1e-6)
  t.is(loaded.find('A', burnFile)!.callees.find((callee) => callee.name === 'B')!.ncall, stats.find('A')!.callees.find((c) => c.name === 'B')!.ncall)
  const twice = yappi.load(file, file)
  t.is(twice.find('A', burnFile)!.ncall, 2 * stats.find('A', burnFile)!.ncall)
  agrees(t, 'A', (twice.find('A', burnFile)!.ttot * 1000) / 2, 'ttot', 1e-6)
  const live = yappi.getFuncStats()
  const before = live.find('A', burnFile)?.ttot ?? 0
  live.add(file)
  agrees(t, 'A', (live.find('A', burnFile)!.ttot - before) * 1000, 'ttot', 1e-6)
  t.is(yappi.getFuncStats().find('A', burnFile)?.ttot ?? 0, before, "the profiler's own stats are untouched")
  const resaved = path.join(dir, 'twice.pb.gz')
  t.deepEqual(twice.save(resaved), [resaved], 'loaded stats export like live ones')
})

test('bad formats, paths and files are errors naming the problem', (t) => {
  t.throws(() => stats.toBuffer('svg' as yappi.SaveFormat), { instanceOf: yappi.YappiError, message: /unknown format "svg"; formats: pprof/ })
  t.throws(() => stats.save(path.join(dir, 'profile.bin')), { message: /cannot tell the format of .*profile\.bin/ })
  t.throws(() => stats.save(path.join(dir, 'missing', 'x.json')), { message: /cannot write .*missing/ })
  t.throws(() => yappi.load(path.join(dir, 'nope.json')), { message: /cannot read .*nope\.json/ })
  const damaged = path.join(dir, 'damaged.json')
  fs.writeFileSync(damaged, '{"format":"yappi-node-stats","version":1,')
  t.throws(() => yappi.load(damaged), { message: /damaged\.json.*not JSON/ })
  const foreign = path.join(dir, 'foreign.json')
  fs.writeFileSync(foreign, '{"traceEvents":[]}')
  t.throws(() => yappi.load(foreign), { message: /not a yappi-node stats file/ })
})

/** `go tool pprof -top -unit=ms` of a file: its rows by name, and its "Total samples" in ms. */
function pprofTop(file: string): { rows: Map<string, { flatMs: number; cumMs: number }>; totalMs: number; text: string } {
  const text = execFileSync('go', ['tool', 'pprof', '-top', '-unit=ms', '-nodecount=500', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const rows = new Map<string, { flatMs: number; cumMs: number }>()
  for (const line of text.split('\n')) {
    // "  flat  flat%  sum%  cum  cum%  name", a zero without its unit.
    const match = /^\s*([\d.]+)(?:ms)?\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(?:ms)?\s+[\d.]+%\s+(.+)$/.exec(line)
    if (match) rows.set(match[3], { flatMs: Number(match[1]), cumMs: Number(match[2]) })
  }
  const total = /Total samples = ([\d.]+)ms/.exec(text)
  return { rows, totalMs: total ? Number(total[1]) : NaN, text }
}

test.serial('pprof tells anonymous functions apart by file and line, and leaves idle time out as the table does', async (t) => {
  yappi.clearStats()
  yappi.start({ intervalUs: 500, threads: false })
  anonymousPair[0](120)
  anonymousPair[1](60)
  await new Promise((resolve) => setTimeout(resolve, 150))
  yappi.stop()
  const own = yappi.getFuncStats()
  const thread = yappi.getThreadStats().toArray()[0]
  const file = path.join(dir, 'anonymous.pb.gz')
  own.save(file)
  const { rows, totalMs, text } = pprofTop(file)
  t.log(text.split('\n').slice(0, 10).join('\n'))
  const anonymous = own.filter({ name: '(anonymous)', module: burnFile }).toArray()
  t.is(anonymous.length, 2)
  for (const stat of anonymous) {
    // file:line as DevTools shows it, and the column where two share a line (here they do).
    const shared = anonymous.some((other) => other !== stat && other.line === stat.line)
    const name = `(anonymous) ${path.basename(burnFile)}:${stat.line}${shared ? `:${stat.column}` : ''}`
    const row = rows.get(name)
    t.truthy(row, `${name} has a row of its own`)
    t.true(Math.abs(row!.cumMs - stat.ttot * 1000) <= 0.01, `line ${stat.line}: pprof ${row!.cumMs} ms vs ttot ${stat.ttot * 1000} ms`)
    t.true(stat.ttot > 0.03, `line ${stat.line} ran (${stat.ttot} s)`)
  }
  t.true(thread.idleTime > 0.03, `the profile had idle time (${thread.idleTime} s)`)
  t.false(rows.has('(idle)'), 'pprof has no (idle) row')
  t.is(own.find('(idle)'), undefined, 'nor does the table')
  const busyMs = (thread.wallTime - thread.idleTime - thread.profilerTime) * 1000
  t.true(Math.abs(totalMs - busyMs) <= 0.1, `pprof's total ${totalMs} ms is the application's busy time ${busyMs} ms`)
})

// Serial tests run before the concurrent ones: this one starts its own profiler.
test.serial('a cpuprofile of several threads is saved one file per thread', async (t) => {
  const { Worker } = await import('node:worker_threads')
  yappi.clearStats()
  yappi.start({ intervalUs: 500 })
  const worker = new Worker('const end = Date.now() + 200; while (Date.now() < end);', { eval: true, name: 'spinner' })
  await new Promise((resolve) => worker.once('exit', resolve))
  const all = await yappi.snapshot()
  yappi.stop()
  const written = all.save(path.join(dir, 'threads.cpuprofile'))
  const threadIds = yappi.getThreadStats().toArray().map((thread) => thread.id)
  t.true(threadIds.length >= 2, `threads ${threadIds}`)
  t.deepEqual(written.sort(), threadIds.map((id) => path.join(dir, `threads.thread-${id}.cpuprofile`)).sort())
  for (const file of written) t.true(Array.isArray(JSON.parse(fs.readFileSync(file, 'utf8')).nodes))
  t.throws(() => all.toBuffer('cpuprofile'), { message: /holds one thread, and these stats cover \d+: select one thread/ })
  yappi.clearStats()
})
