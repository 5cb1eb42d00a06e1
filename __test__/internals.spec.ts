import test, { type ExecutionContext } from 'ava'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import * as ts from 'typescript'

import * as yappi from '../index'
import { INTERNALS_WORKER_FILE, throughNodeInternals } from './workloads/internals'

const ROOT = path.resolve(__dirname, '..', '..')
const ESM_ENTRY = path.join(ROOT, 'index.mjs')

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
})

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}

/** Every thread's function self times, idle time and the profiler's own time against its wall time. */
function checkThreadsAddUp(t: ExecutionContext, threadIds: number[]): void {
  const threads = yappi.getThreadStats()
  for (const id of threadIds) {
    const thread = threads.toArray().find((candidate) => candidate.id === id)
    if (!thread) {
      t.fail(`thread ${id} was profiled`)
      continue
    }
    const self = yappi.getFuncStats({ threadId: id }).toArray().reduce((sum, stat) => sum + stat.tsub, 0)
    const gap = thread.wallTime / thread.samples
    const sum = self + thread.idleTime + thread.profilerTime
    t.log(
      `thread ${id}: self ${self.toFixed(4)} s + idle ${thread.idleTime.toFixed(4)} s + profiler ${thread.profilerTime.toFixed(4)} s vs wall ${thread.wallTime.toFixed(4)} s (gap ${(gap * 1e3).toFixed(2)} ms)`,
    )
    // Enough samples that the sum means something; a loaded machine may give fewer than asked.
    t.true(thread.samples > 30, `thread ${id} has ${thread.samples} samples`)
    t.true(Math.abs(sum - thread.wallTime) <= gap, `thread ${id}: ${self} + ${thread.idleTime} + ${thread.profilerTime} vs ${thread.wallTime}`)
  }
}

async function profileInternalsOnTwoThreads(t: ExecutionContext, options: yappi.StartOptions): Promise<number> {
  yappi.clearStats()
  yappi.start(options)
  const worker = new Worker(INTERNALS_WORKER_FILE, { workerData: { internals: true } })
  const workerId = worker.threadId
  try {
    const exited = new Promise((resolve) => worker.once('exit', resolve))
    const done = new Promise((resolve) => worker.once('message', resolve))
    await within(new Promise((resolve) => worker.once('online', resolve)), 10_000, 'the worker coming online')
    // Attached before it starts: its whole run is profiled.
    await yappi.snapshot()
    worker.postMessage(500)
    t.true((await throughNodeInternals(500)) > 0)
    await within(done, 20_000, "the worker's run")
    await within(exited, 10_000, 'the worker exiting')
    yappi.stop()
    await yappi.snapshot()
    checkThreadsAddUp(t, [0, workerId])
    return workerId
  } finally {
    await worker.terminate()
  }
}

test.serial("with default options every thread's self times and idle time add up to its wall time", async (t) => {
  const workerId = await profileInternalsOnTwoThreads(t, {})
  for (const threadId of [0, workerId]) {
    const builtins = yappi.getFuncStats({ threadId }).find('(builtins)')
    t.truthy(builtins, `thread ${threadId}: samples showing only Node internals have a row`)
    t.true(builtins!.tsub > 0 && builtins!.kind === 'builtin')
    t.is(builtins!.ncall, 0, 'no calls are counted for it')
  }
})

test.serial('with builtins shown they add up too, and there is no (builtins) row', async (t) => {
  const workerId = await profileInternalsOnTwoThreads(t, { builtins: true })
  for (const threadId of [0, workerId]) t.is(yappi.getFuncStats({ threadId }).find('(builtins)'), undefined)
})

function wasmRows(stats: Pick<yappi.FuncStat, 'name' | 'module' | 'kind'>[]): Pick<yappi.FuncStat, 'name' | 'module' | 'kind'>[] {
  return stats.filter((stat) => stat.module.startsWith('wasm://') || /^(wasm-|js-to-wasm|wasm-to-js)/.test(stat.name))
}

test.serial("fetch's WebAssembly HTTP parser is Node's: hidden with builtins, shown as builtins with them", async (t) => {
  const server = http.createServer((_, response) => response.end('x'.repeat(20_000)))
  await within(new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)), 10_000, 'listening')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  const fetchMany = async (): Promise<void> => {
    for (let i = 0; i < 150; i++) await (await fetch(url)).text()
  }
  try {
    await fetchMany()
    for (const builtins of [false, true]) {
      yappi.clearStats()
      yappi.start({ threads: false, intervalUs: 100, builtins })
      await within(fetchMany(), 30_000, '150 requests')
      yappi.stop()
      const rows = wasmRows(yappi.getFuncStats().toArray())
      if (builtins) {
        t.true(rows.length > 0, 'the parser was sampled')
        t.true(rows.every((row) => row.kind === 'builtin'), rows.map((row) => `${row.name} ${row.kind}`).join(', '))
      } else {
        t.deepEqual(rows.map((row) => `${row.name} ${row.module}`), [])
      }
    }
  } finally {
    server.closeAllConnections()
    server.close()
  }
})

type Row = Pick<yappi.FuncStat, 'name' | 'module' | 'line' | 'column' | 'kind' | 'tsub'>

/** Runs a script in a fresh Node process (killed after 60 s); it prints its stats rows as JSON. */
function runScript(file: string, ...args: string[]): Row[] {
  const result = spawnSync(process.execPath, [file, ...args], { encoding: 'utf8', timeout: 60_000 })
  if (result.status !== 0) throw new Error(`${file} exited ${result.status}: ${result.stderr}`)
  return JSON.parse(result.stdout) as Row[]
}

const PRINT_ROWS = `console.log(JSON.stringify(yappi.getFuncStats().toArray().map(({ name, module, line, column, kind, tsub }) => ({ name, module, line, column, kind, tsub }))))`

const typeStripping = (process.features as { typescript?: string }).typescript !== undefined
;(typeStripping ? test.serial : test.serial.skip)('a .ts file run by Node directly: its type stripper (WebAssembly) is not user code', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-strip-'))
  try {
    fs.writeFileSync(path.join(dir, 'dep.ts'), 'export interface P { x: number }\nexport function work(p: P): number {\n  return p.x * 2\n}\n')
    fs.writeFileSync(
      path.join(dir, 'main.ts'),
      `import * as yappi from ${JSON.stringify(ESM_ENTRY)}\n` +
        `yappi.start({ threads: false, intervalUs: 50, builtins: process.argv[2] === 'builtins' })\n` +
        `for (let i = 0; i < 60; i++) { const dep: { work(p: { x: number }): number } = await import(\`./dep.ts?\${i}\`); dep.work({ x: i }) }\n` +
        `yappi.stop()\n${PRINT_ROWS}\n`,
    )
    const hidden = runScript(path.join(dir, 'main.ts'))
    t.true(hidden.some((row) => row.module === path.join(dir, 'main.ts')))
    t.deepEqual(wasmRows(hidden).map((row) => `${row.name} ${row.module}`), [])
    const shown = wasmRows(runScript(path.join(dir, 'main.ts'), 'builtins'))
    t.true(shown.length > 0, 'the stripper was sampled')
    t.true(shown.every((row) => row.kind === 'builtin'), shown.map((row) => `${row.name} ${row.kind}`).join(', '))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})

/** An ES module that spins at its top level for 150 ms, compiled from TypeScript by tsc. */
const TOP_LEVEL_SOURCE =
  `import * as yappi from ${JSON.stringify(ESM_ENTRY)}\n` +
  `yappi.start({ threads: false })\n` +
  `const end: number = Date.now() + 150\n` +
  `let spins = 0\n` +
  `while (Date.now() < end) spins++\n` +
  `yappi.stop()\n` +
  `${PRINT_ROWS}\n`

test.serial("an ES module's top level is line 1 of its file, of the TypeScript source through its map", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-esm-'))
  try {
    const compiled = ts.transpileModule(TOP_LEVEL_SOURCE, {
      fileName: 'main.ts',
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022, inlineSourceMap: true },
    })
    fs.writeFileSync(path.join(dir, 'main.mjs'), compiled.outputText)
    fs.writeFileSync(path.join(dir, 'plain.mjs'), ts.transpileModule(TOP_LEVEL_SOURCE, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 } }).outputText)
    for (const [file, module] of [
      ['main.mjs', 'main.ts'],
      ['plain.mjs', 'plain.mjs'],
    ]) {
      const rows = runScript(path.join(dir, file))
      const mine = rows.filter((row) => row.module.startsWith(dir))
      t.log(file, mine.map((row) => `${row.name} ${path.basename(row.module)}:${row.line}:${row.column} ${row.tsub.toFixed(3)}`).join(', '))
      const top = mine.find((row) => row.name === '(anonymous)')
      t.truthy(top, `${file}: its top level is a row`)
      t.is(top!.module, path.join(dir, module))
      t.deepEqual([top!.line, top!.column], [1, 1])
      t.true(top!.tsub > 0.1, `${file}: the top level's own 150 ms spin is its self time (${top!.tsub} s)`)
      t.deepEqual(mine.filter((row) => row.module !== path.join(dir, module)), [], 'nothing stays at the compiled file')
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
})
