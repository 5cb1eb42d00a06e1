import { copyFileSync, mkdirSync, mkdtempSync, realpathSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'

import test from 'ava'
import ts from 'typescript'

import * as yappi from '../index'

// Types and interfaces vanish when compiled, so every function sits on another line in the JS
// than in this source: only a working source map gives the TypeScript lines. `process` is
// declared here so the compile needs no @types (type-checking those would take seconds).
const WORKLOAD = `declare const process: { hrtime(start?: [number, number]): [number, number] }

interface Plan {
  ms: number
  label: string
}

type Spin = (ms: number) => void

export function spinTs(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

export const arrowTs: Spin = (ms: number): void => {
  const start = process.hrtime()
  for (;;) {
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

export class Runner {
  constructor(private readonly plan: Plan) {}

  methodTs(ms: number): void {
    const start = process.hrtime()
    for (;;) {
      const [seconds, nanos] = process.hrtime(start)
      if (seconds * 1e3 + nanos / 1e6 >= ms) return
    }
  }

  run(): string {
    spinTs(this.plan.ms)
    arrowTs(this.plan.ms)
    this.methodTs(this.plan.ms)
    return this.plan.label
  }
}
`

/** 1-based line of the first line of `source` that contains `text`. */
function lineOf(source: string, text: string): number {
  const index = source.split('\n').findIndex((line) => line.includes(text))
  if (index < 0) throw new Error(`'${text}' is not in the workload`)
  return index + 1
}

interface Workload {
  run(): string
}

interface Compiled {
  source: string
  /** The compiled workload: `out/work.js`, its map beside it or inline. */
  script: string
}

/** Writes the workload to a fresh folder and compiles it with tsc's API. */
function compile(mapOptions: ts.CompilerOptions): Compiled {
  // A space in the path: script URLs and the map's base are percent-encoded, stats must not be.
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'yappi sourcemaps-')))
  const source = path.join(dir, 'src', 'work.ts')
  const outDir = path.join(dir, 'out')
  mkdirSync(path.dirname(source))
  writeFileSync(source, WORKLOAD)
  const program = ts.createProgram([source], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    lib: ['lib.es2022.d.ts'],
    types: [],
    strict: true,
    outDir,
    rootDir: path.join(dir, 'src'),
    ...mapOptions,
  })
  const emitted = program.emit()
  const diagnostics = ts.getPreEmitDiagnostics(program).concat(emitted.diagnostics)
  if (diagnostics.length > 0) throw new Error(ts.formatDiagnostics(diagnostics, ts.createCompilerHost({})))
  return { source, script: path.join(outDir, 'work.js') }
}

function load(script: string): Workload {
  const { Runner } = require(script) as { Runner: new (plan: { ms: number; label: string }) => Workload }
  return new Runner({ ms: 120, label: 'done' })
}

const compiled: Record<'file' | 'inline', Compiled> = {} as Record<'file' | 'inline', Compiled>
test.before(() => {
  compiled.file = compile({ sourceMap: true })
  compiled.inline = compile({ inlineSourceMap: true })
})

for (const [title, kind] of [
  ['a .map file', 'file'],
  ['an inline map', 'inline'],
] as const) {
  test.serial(`stats name the TypeScript file, lines and functions of compiled code with ${title}`, (t) => {
    const { source, script } = compiled[kind]
    const workload = load(script)
    const stats = yappi.profile(() => workload.run(), { intervalUs: 500 })
    for (const [name, text] of [
      ['spinTs', 'export function spinTs'],
      ['arrowTs', 'export const arrowTs'],
      ['methodTs', '  methodTs(ms: number)'],
      ['run', '  run(): string'],
    ]) {
      const stat = stats.find(name)
      t.truthy(stat, `${name} in ${stats.toArray().map((s) => `${s.name} ${s.module}:${s.line}`).join(', ')}`)
      t.is(stat!.module, source, name)
      t.is(stat!.line, lineOf(WORKLOAD, text), name)
    }
    t.deepEqual(
      // Unmapped frames keep their URL's escapes: either spelling of the folder counts.
      stats.filter((stat) => stat.module.endsWith('.js') && /yappi(%20| )sourcemaps-/.test(stat.module)).toArray(),
      [],
      'no frame of the compiled workload is left unmapped',
    )
  })
}

test.serial('a broken source map is recorded as a fault and its script keeps its compiled positions', (t) => {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'yappi-sourcemaps-')))
  const script = path.join(dir, 'broken.js')
  writeFileSync(
    script,
    [
      'exports.spinBroken = function spinBroken(ms) {',
      '  const start = process.hrtime()',
      '  for (;;) {',
      '    const [seconds, nanos] = process.hrtime(start)',
      '    if (seconds * 1e3 + nanos / 1e6 >= ms) return',
      '  }',
      '}',
      '//# sourceMappingURL=broken.js.map',
      '',
    ].join('\n'),
  )
  writeFileSync(path.join(dir, 'broken.js.map'), '{"version":3,"sources":["broken.ts"],"mappings":"A!"}')
  const { spinBroken } = require(script) as { spinBroken: (ms: number) => void }
  yappi.clearFaults()
  const stats = yappi.profile(() => spinBroken(80), { intervalUs: 500 })
  const fault = yappi.getFaults().faults.find((f) => f.where === 'sourcemap')
  t.truthy(fault)
  t.true(fault!.message.includes(script) && fault!.message.includes('malformed'), fault!.message)
  const stat = stats.find('spinBroken')
  t.is(stat?.module, script)
  t.is(stat?.line, 1)
})

test.serial("a worker's compiled code is mapped too (its profiles reach the engine as inspector messages)", async (t) => {
  // A copy beside the first output: a script URL no thread has run yet, with the same map.
  const { source, script: first } = compiled.file
  const outDir = path.join(path.dirname(path.dirname(first)), 'out-worker')
  mkdirSync(outDir)
  for (const file of ['work.js', 'work.js.map']) copyFileSync(path.join(path.dirname(first), file), path.join(outDir, file))
  const script = path.join(outDir, 'work.js')
  yappi.start({ intervalUs: 500 })
  try {
    const worker = new Worker(
      `const { Runner } = require(${JSON.stringify(script)}); new Runner({ ms: 120, label: 'worker' }).run()`,
      { eval: true },
    )
    const threadId = worker.threadId
    await once(worker, 'exit')
    yappi.stop()
    const stats = await yappi.snapshot({ threadId })
    const spin = stats.find('spinTs')
    t.truthy(spin, stats.toArray().map((s) => `${s.name} ${s.module}:${s.line}`).join(', '))
    t.is(spin!.module, source)
    t.is(spin!.line, lineOf(WORKLOAD, 'export function spinTs'))
    t.is(stats.find('methodTs')?.line, lineOf(WORKLOAD, '  methodTs(ms: number)'))
  } finally {
    yappi.stop()
    yappi.clearStats()
  }
})
