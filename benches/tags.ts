// Cost of async tags per await: `node dist/benches/tags.js [awaits] [runs]`.
//
// Each variant awaits a trivial async function `awaits` times; the figure is the median over
// `runs` runs of the main thread's CPU time per await (its own CPU clock, so time the thread
// spends descheduled on a shared machine does not count), variants side by side in one
// process. Variants:
//   fresh             no profiler, measured first, before any async hook or AsyncLocalStorage
//                     was ever used in the process (V8 and Node keep a slower path afterwards)
//   plain             no profiler, no tag source
//   source, stopped   a tag source set (withTag) but the profiler stopped: hooks are off
//   profiled          profiler running (default 1 ms sampling), no tag source
//   tagged            profiler running, inside withTag: the hooks read the tag at every await
//   tagged, switching two withTag loops interleaved: the tag changes at every await and is recorded
import * as yappi from '../index'
import { native } from '../src/native'

async function leaf(): Promise<number> {
  return 1
}

async function awaitLoop(awaits: number): Promise<void> {
  for (let i = 0; i < awaits; i++) await leaf()
}

async function timed(body: () => Promise<unknown>, awaits: number): Promise<number> {
  const begin = native.threadCpuTimeNs()
  await body()
  return (native.threadCpuTimeNs() - begin) / awaits
}

interface Variant {
  name: string
  setUp(): void
  run(awaits: number): Promise<unknown>
  tearDown(): void
}

const nothing = (): void => {}

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

async function main(): Promise<void> {
  const awaits = Number(process.argv[2] ?? 200_000)
  const runs = Number(process.argv[3] ?? 7)
  await awaitLoop(awaits / 4)
  const fresh: number[] = []
  for (let run = 0; run < runs; run++) fresh.push(await timed(() => awaitLoop(awaits), awaits))
  const samples = new Map<string, number[]>(variants.map((variant) => [variant.name, []]))
  for (const variant of variants) {
    // Warm-up, so every variant runs optimized code.
    variant.setUp()
    await variant.run(awaits / 4)
    variant.tearDown()
    yappi.clearStats()
  }
  for (let run = 0; run < runs; run++) {
    for (const variant of variants) {
      variant.setUp()
      samples.get(variant.name)!.push(await timed(() => variant.run(awaits), awaits))
      variant.tearDown()
      yappi.clearStats()
    }
  }
  const plain = median(samples.get('plain')!)
  const profiled = median(samples.get('profiled')!)
  console.log(`Node ${process.version}, ${awaits} awaits, median of ${runs} runs (ns per await)`)
  console.log(`${'fresh'.padEnd(20)} ${median(fresh).toFixed(0).padStart(6)}`)
  for (const variant of variants) {
    const ns = median(samples.get(variant.name)!)
    const base = variant.name.startsWith('tagged') ? profiled : plain
    const against = variant.name.startsWith('tagged') ? 'profiled' : 'plain'
    const extra = variant.name === 'plain' ? '' : `  (+${(ns - base).toFixed(0)} vs ${against})`
    console.log(`${variant.name.padEnd(20)} ${ns.toFixed(0).padStart(6)}${extra}`)
  }
  const faults = yappi.getFaults().faults
  if (faults.length > 0) console.log('faults:', faults)
}

void main()
