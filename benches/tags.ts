// Cost of async tags per await: `node dist/benches/tags.js [awaits] [runs]`.
//
// Each variant awaits a trivial async function `awaits` times, `runs` times, in a process of
// its own: async hooks and AsyncLocalStorage leave a process on a slower path for good once
// used, so variants measured one after another in one process would all pay for the first.
// The figure is the median of the main thread's CPU time per await (its own CPU clock, so time
// the thread spends descheduled on a shared machine does not count). Variants:
//   plain             no profiler, no tag source
//   source, stopped   withTag used (a tag source set) but the profiler not running: our hooks
//                     are off; on Node < 24 AsyncLocalStorage itself installs hooks
//   profiled          profiler running (default 1 ms sampling), no tag source
//   empty hooks       profiler running, no tags, an async hook with empty before/after: the
//                     floor any before/after-based tagging pays
//   tagged            profiler running, inside withTag: the hooks read the tag at every await
//   tagged, switching two withTag loops interleaved: the tag changes at every await and is recorded
import { createHook } from 'node:async_hooks'
import { spawnSync } from 'node:child_process'

import * as yappi from '../index'
import { native } from '../src/native'

async function leaf(): Promise<number> {
  return 1
}

async function awaitLoop(awaits: number): Promise<void> {
  for (let i = 0; i < awaits; i++) await leaf()
}

async function timed(body: () => Promise<unknown>, awaits: number): Promise<number> {
  const begin = (native.threadCpuTimeNs() ?? NaN)
  await body()
  return ((native.threadCpuTimeNs() ?? NaN) - begin) / awaits
}

interface Variant {
  name: string
  setUp(): void
  run(awaits: number): Promise<unknown>
  tearDown(): void
}

const nothing = (): void => {}
const emptyHook = createHook({ before: nothing, after: nothing })

const variants: Variant[] = [
  { name: 'plain', setUp: nothing, run: awaitLoop, tearDown: nothing },
  {
    name: 'source, stopped',
    setUp: nothing,
    run: (awaits) => yappi.withTag('bench', () => awaitLoop(awaits)),
    tearDown: nothing,
  },
  { name: 'profiled', setUp: () => yappi.start(), run: awaitLoop, tearDown: () => yappi.stop() },
  {
    name: 'empty hooks',
    setUp: () => {
      yappi.start()
      emptyHook.enable()
    },
    run: awaitLoop,
    tearDown: () => {
      emptyHook.disable()
      yappi.stop()
    },
  },
  {
    name: 'tagged',
    setUp: () => yappi.start(),
    run: (awaits) => yappi.withTag('bench', () => awaitLoop(awaits)),
    tearDown: () => yappi.stop(),
  },
  {
    name: 'tagged, switching',
    setUp: () => yappi.start(),
    // Two loops of half the awaits each, interleaved: every continuation changes the tag.
    run: (awaits) => Promise.all([yappi.withTag('a', () => awaitLoop(awaits / 2)), yappi.withTag('b', () => awaitLoop(awaits / 2))]),
    tearDown: () => yappi.stop(),
  },
]

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

/** In a child process: measures one variant and prints its median ns per await. */
async function measure(variant: Variant, awaits: number, runs: number): Promise<void> {
  variant.setUp()
  await variant.run(awaits / 4)
  variant.tearDown()
  const samples: number[] = []
  for (let run = 0; run < runs; run++) {
    yappi.clearStats()
    variant.setUp()
    samples.push(await timed(() => variant.run(awaits), awaits))
    variant.tearDown()
  }
  const faults = yappi.getFaults().faults
  process.stdout.write(JSON.stringify({ ns: median(samples), faults }))
}

function main(): void {
  const awaits = Number(process.argv[2] ?? 300_000)
  const runs = Number(process.argv[3] ?? 11)
  console.log(`Node ${process.version}, ${awaits} awaits, median of ${runs} runs, one process per variant (CPU ns per await)`)
  const results = new Map<string, number>()
  for (const variant of variants) {
    const child = spawnSync(process.execPath, [__filename, '--variant', variant.name, String(awaits), String(runs)], { encoding: 'utf8' })
    if (child.status !== 0) throw new Error(`${variant.name}: ${child.stderr}`)
    const { ns, faults } = JSON.parse(child.stdout) as { ns: number; faults: unknown[] }
    if (faults.length > 0) console.log(`${variant.name}: faults`, faults)
    results.set(variant.name, ns)
    const base = variant.name.startsWith('tagged') || variant.name === 'empty hooks' ? 'profiled' : 'plain'
    const extra = variant.name === 'plain' ? '' : `  (+${(ns - results.get(base)!).toFixed(0)} vs ${base})`
    console.log(`${variant.name.padEnd(20)} ${ns.toFixed(0).padStart(6)}${extra}`)
  }
}

const at = process.argv.indexOf('--variant')
if (at >= 0) {
  const variant = variants.find((candidate) => candidate.name === process.argv[at + 1])
  if (!variant) throw new Error(`no variant ${process.argv[at + 1]}`)
  void measure(variant, Number(process.argv[at + 2]), Number(process.argv[at + 3]))
} else {
  main()
}
