import test from 'ava'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { marked } from 'marked'

import * as yappi from '../index'
import { displayModule, formatThreadTable, resolveLayout } from '../src/table'
import { spinA } from './workloads/burn'
import { savedReport } from './workloads/saved-report'
import { recordedFuncStats, recordedThreadStats } from './support/recording'

test.afterEach.always(() => {
  yappi.stop()
  yappi.clearStats()
})

test('module paths read as a user finds them: package-relative, relative to the working directory, or absolute', (t) => {
  const cwd = path.join(path.sep, 'srv', 'app')
  const at = (...parts: string[]) => path.join(cwd, ...parts)
  t.is(displayModule(at('node_modules', 'marked', 'src', 'Instance.ts'), cwd), 'marked/src/Instance.ts')
  t.is(displayModule(at('node_modules', '@fastify', 'ajv-compiler', 'index.js'), cwd), '@fastify/ajv-compiler/index.js')
  t.is(displayModule(at('node_modules', 'a', 'node_modules', 'b', 'lib', 'b.js'), cwd), 'b/lib/b.js', 'a nested package names itself')
  t.is(displayModule(path.join(path.sep, 'opt', 'node_modules', 'tsx', 'cli.mjs'), cwd), 'tsx/cli.mjs', 'a package outside the directory too')
  t.is(displayModule(at('src', 'server.ts'), cwd), 'src/server.ts')
  t.is(displayModule(path.join(path.sep, 'srv', 'other', 'x.js'), cwd), path.join(path.sep, 'srv', 'other', 'x.js'), 'outside it: absolute, never ../')
  for (const url of ['node:internal/main/run_main_module', 'wasm://wasm/12ab', '[eval]', '']) t.is(displayModule(url, cwd), url)
})

/** The module cell of every row of a table printed with these columns. */
function moduleCells(stats: yappi.FuncStats, columns: yappi.PrintOptions['columns']): string[] {
  const lines = stats.format({ columns }).trimEnd().split('\n')
  const header = lines.findIndex((line) => line.startsWith('name'))
  return lines.slice(header + 1).map((line) => line.split(/\s{2,}/)[1])
}

test('long module paths are cut at path separators from the left, keeping the package name and whole names', (t) => {
  const cwd = process.cwd()
  const modules = [
    path.join(cwd, 'node_modules', 'marked', 'src', 'rules', 'inline', 'Instance.ts'),
    path.join(cwd, 'node_modules', '@scope', 'pkg', 'dist', 'esm', 'internal', 'index.js'),
    path.join(cwd, 'src', 'routes', 'admin', 'users', 'handler.ts'),
    path.join(cwd, 'src', 'a-file-name-longer-than-most-columns-allow.ts'),
  ]
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-table-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'stats.json')
  fs.writeFileSync(file, JSON.stringify(savedReport([{ id: 0, functions: modules.map((module, i) => ({ name: `f${i}`, module, selfNs: (i + 1) * 1e6, calls: 1 })) }])))
  const stats = yappi.load(file).sort('name', 'asc')
  const shown = modules.map((module) => displayModule(module))
  t.deepEqual(moduleCells(stats, ['name', ['module', 60]]), shown, 'whole paths when the column is wide enough')
  t.deepEqual(moduleCells(stats, ['name', 'module']).slice(0, 3), shown.slice(0, 3), 'the default grows to 40 characters')
  t.false(shown.some((module) => module.includes('node_modules')))
  for (let width = 3; width <= 50; width++) {
    const cells = moduleCells(stats, ['name', ['module', width]])
    cells.forEach((cell, i) => {
      const whole = shown[i]
      const segments = whole.split('/')
      const basename = segments[segments.length - 1]
      if (cell === whole) return t.true(whole.length <= width)
      t.regex(cell, /^(?:(?:@[^/]+\/)?[^/.][^/]*\/)?\.\.\.\/[^/]/, `width ${width}: ${cell}`)
      t.true(cell.length <= width || cell === `.../${basename}`, `width ${width}: ${cell}`)
      const [head, tail] = cell.split('.../')
      t.true(whole.startsWith(head) && whole.endsWith(`/${tail}`) && tail.endsWith(basename), `width ${width}: ${cell} is made of whole names of ${whole}`)
    })
  }
})

test.serial('the default table has a module column; on a node_modules package it names the package file', (t) => {
  const text = '# Title\n\nSome *text* with `code` and a [link](http://example.com).\n\n- one\n- two\n\n'.repeat(100)
  yappi.start({ threads: false, intervalUs: 200 })
  const end = Date.now() + 300
  while (Date.now() < end) marked.parse(text)
  yappi.stop()
  const stats = yappi.getFuncStats({ module: /[\\/]node_modules[\\/]marked[\\/]/ })
  t.true(stats.length >= 5, `${stats.length} functions of marked`)
  const table = stats.format({ limit: 10 })
  t.regex(table, /^name\s+module\s+line\s+ncall~\s+ttot\s+tsub\s+tavg~\s+samples\s+samplesTotal$/m)
  const cells = moduleCells(stats.filter(() => true), undefined).slice(0, 10)
  t.true(cells.every((cell) => /^marked\/(?:\.\.\.\/)?[\w./-]+\.[cm]?[jt]s$/.test(cell)), cells.join('\n'))
  t.notRegex(table, /node_modules|\.\.ode|\s\.\.\//)
})

/**
 * A function that only calls: every sample of spinA has it below. V8 may still put it on top
 * now and then (spinA's frame lost: 16 of 24 samples once, on Node 20 with the other core busy).
 */
function onlyCalls(): void {
  spinA(60)
}

test.serial('inclusive samples are printed beside self samples, and the legend says which is which', (t) => {
  yappi.start({ threads: false, intervalUs: 200 })
  onlyCalls()
  yappi.stop()
  const stats = yappi.getFuncStats({ name: /^(onlyCalls|spinA)$/ })
  const caller = stats.find('onlyCalls')!
  const callee = stats.find('spinA')!
  // Its one callee: the samples anywhere under it are its own and its callee's, exactly.
  t.is(caller.samplesTotal, caller.samples + callee.samplesTotal, JSON.stringify(caller))
  t.true(callee.samples > 0, JSON.stringify(callee))
  const table = stats.format()
  t.regex(table, /^samples: with the function on top of the stack \(its self time\); samplesTotal: anywhere on the stack$/m)
  t.regex(table, new RegExp(`^onlyCalls\\s.*\\s${caller.samples}\\s+${caller.samplesTotal}$`, 'm'))
})

test.serial('rows whose calls are not counted, (garbage collector) and (program), leave ncall and tavg blank', (t) => {
  yappi.start({ threads: false, intervalUs: 200, builtins: true })
  const end = Date.now() + 300
  let kept: unknown[] = []
  while (Date.now() < end) kept = Array.from({ length: 2000 }, (_, i) => ({ i, text: `item ${i}` }))
  yappi.stop()
  t.true(kept.length > 0)
  const stats = yappi.getFuncStats().filter((stat) => stat.kind === 'gc' || stat.kind === 'program')
  t.true(stats.length > 0, 'the workload collected garbage, or V8 ran outside JavaScript')
  const lines = stats.format({ columns: ['name', 'ncall', 'nactualcall', 'tavg', 'ttot', 'samples'] }).split('\n')
  for (const stat of stats) {
    t.is(stat.ncall, 0)
    const line = lines.find((text) => text.startsWith(stat.name))
    t.regex(line ?? '', new RegExp(`^\\(${stat.name.slice(1, -1)}\\)\\s+${stat.ttot.toFixed(6)}\\s+${stat.samples}$`))
  }
})

const THREAD: yappi.ThreadStat = {
  id: 0,
  name: 'main',
  wallTime: 2,
  cpuTime: 1.5,
  cpuTimeEstimated: 0,
  idleTime: 0.5,
  samples: 2000,
  profilerTime: 0,
  profilerSamples: 0,
  age: 0,
  maxSampleGap: 0.001,
  idleSamples: 500,
  profiles: 2,
  droppedSamples: 0,
}

test('the thread table marks estimated CPU time only where some is estimated', (t) => {
  const layout = resolveLayout(undefined, false)
  const measured = formatThreadTable([THREAD, { ...THREAD, id: 1, name: 'worker 1' }], 'wall', layout)
  t.notRegex(measured, /~/)
  t.regex(measured, /^Clock type: WALL; times in seconds$/m)
  const partly = formatThreadTable([THREAD, { ...THREAD, id: 1, name: 'worker 1', cpuTimeEstimated: 0.2 }], 'wall', layout)
  t.regex(partly, /^Clock type: WALL; times in seconds; ~cpu: partly estimated from busy wall time$/m)
  t.regex(partly, /^worker 1\s+1\s+2\.000000\s+~1\.500000\s/m)
  t.regex(partly, /^main\s+0\s+2\.000000\s+1\.500000\s/m)
})

test.serial('a live thread table with every CPU time measured has no estimate legend', (t) => {
  yappi.start({ threads: false })
  spinA(20)
  yappi.stop()
  const threads = yappi.getThreadStats()
  t.true(threads.toArray().every((thread) => thread.cpuTimeEstimated === 0))
  t.notRegex(threads.format(), /estimated|~/)
})

// Printing a recorded engine output (see support/recording.ts): no profiling, so every row and
// number is known before the table is read back.

/** The rows of a printed function table, each split into its cells (cells are 2+ spaces apart). */
function tableRows(table: string): string[][] {
  const lines = table.split('\n')
  const header = lines.indexOf('') + 1
  return lines.slice(header).filter((line) => line.trim() !== '' && !line.startsWith('...')).map((line) => line.trim().split(/\s{2,}/))
}

test('a recorded read prints one row per function, in the sort order, with its own numbers', (t) => {
  for (const key of ['ttot', 'name', 'samples'] as const) {
    const stats = recordedFuncStats().sort(key, 'desc')
    const [header, ...rows] = tableRows(stats.format())
    t.deepEqual(header, ['name', 'module', 'line', 'ncall~', 'ttot', 'tsub', 'tavg~', 'samples', 'samplesTotal'])
    t.is(rows.length, stats.length)
    stats.toArray().forEach((stat, i) => {
      const cells = rows[i]
      // Rows of functions without a module have an empty module cell, which the split cannot see.
      const [name, ...rest] = stat.module === '' ? [cells[0], '', ...cells.slice(1)] : cells
      t.is(name, stat.name)
      // The recording's paths are of the checkout that made it: here they may be long enough
      // to be cut from the left, at a separator.
      const shown = displayModule(stat.module)
      const cut = rest[0].indexOf('.../')
      t.true(rest[0] === shown || (cut >= 0 && shown.endsWith(`/${rest[0].slice(cut + 4)}`)), `${rest[0]} is ${shown}`)
      t.deepEqual(rest.slice(1).map(Number), [stat.line, stat.ncall, stat.ttot, stat.tsub, stat.tavg, stat.samples, stat.samplesTotal].map((n) => Number(n.toFixed(6))), stat.fullName)
    })
    t.regex(stats.format(), new RegExp(`^Ordered by: ${key}, desc$`, 'm'))
  }
})

test('a recorded read prints the rows and columns asked for, and print writes what format returns', (t) => {
  const stats = recordedFuncStats().sort('tsub', 'desc')
  const limited = stats.format({ limit: 2 })
  t.is(tableRows(limited).length, 3)
  t.regex(limited, new RegExp(`^\\.\\.\\. ${stats.length - 2} more$`, 'm'))
  const [header, ...rows] = tableRows(stats.format({ columns: ['samples', 'name'] }))
  t.deepEqual(header, ['samples', 'name'])
  t.deepEqual(rows, stats.toArray().map((stat) => [String(stat.samples), stat.name]))
  let written = ''
  stats.print({ out: { write: (text: string) => (written += text) } })
  t.is(written, stats.format())
})

test('a recorded thread read prints each thread with its times and samples', (t) => {
  const threads = recordedThreadStats()
  const lines = threads.format().split('\n')
  for (const thread of threads) {
    const line = lines.find((candidate) => candidate.startsWith(thread.name))
    t.truthy(line, thread.name)
    t.deepEqual(line!.trim().split(/\s+/).slice(1).map(Number), [thread.id, thread.wallTime, thread.cpuTime, thread.idleTime, thread.samples].map((n) => Number(n.toFixed(6))))
  }
})
