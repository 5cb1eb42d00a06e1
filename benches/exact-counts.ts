// The price of exact call counts: the same workloads run with no profiler, with the default
// sampling profiler (estimated counts) and with `counts: 'exact'` (precise coverage), each in a
// fresh process (precise coverage changes how V8 compiles for the whole isolate, so runs must
// not share one), several times; the medians are compared as ratios.
//
//   node dist/benches/exact-counts.js [runs]
import { execFileSync } from 'node:child_process'

import * as yappi from '../index'

type Mode = 'none' | 'estimated' | 'exact'

function add(a: number, b: number): number {
  return (a + b) % 1_000_003
}

function mix(a: number): number {
  return add(a * 31, a >> 3)
}

/** Tiny functions called tens of millions of times: the worst case for precise coverage. */
function callHeavy(): number {
  let acc = 0
  for (let i = 0; i < 20_000_000; i++) acc = add(acc, mix(i))
  return acc
}

/** Mostly work inside builtins (JSON, sort): fewer JavaScript calls per unit of work. */
function builtinHeavy(): number {
  const rows = Array.from({ length: 2000 }, (_, i) => ({ id: i, name: `row${(i * 7919) % 2000}`, tags: ['a', 'b', String(i)] }))
  let size = 0
  for (let round = 0; round < 150; round++) {
    const copy = JSON.parse(JSON.stringify(rows)) as typeof rows
    copy.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
    size += copy.length
  }
  return size
}

const WORKLOADS: Record<string, () => number> = { callHeavy, builtinHeavy }

function child(workload: string, mode: Mode): void {
  if (mode !== 'none') yappi.start({ threads: false, counts: mode })
  const started = process.hrtime.bigint()
  const result = WORKLOADS[workload]()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  if (mode !== 'none') yappi.stop()
  process.stdout.write(`${JSON.stringify({ ms, result })}\n`)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

function main(runs: number): void {
  const modes: Mode[] = ['none', 'estimated', 'exact']
  for (const workload of Object.keys(WORKLOADS)) {
    const times: Record<Mode, number[]> = { none: [], estimated: [], exact: [] }
    for (let run = 0; run < runs; run++) {
      // Interleaved, so drift in the machine's load touches every mode alike.
      for (const mode of modes) {
        const out = execFileSync(process.execPath, [__filename, '--child', workload, mode], { encoding: 'utf8' })
        times[mode].push((JSON.parse(out) as { ms: number }).ms)
      }
    }
    const [none, estimated, exact] = modes.map((mode) => median(times[mode]))
    console.log(
      `${workload}: median of ${runs} runs: none ${none.toFixed(0)} ms, sampling ${estimated.toFixed(0)} ms, exact ${exact.toFixed(0)} ms; ` +
        `sampling/none ${(estimated / none).toFixed(2)}x, exact/sampling ${(exact / estimated).toFixed(2)}x`,
    )
  }
}

if (process.argv[2] === '--child') child(process.argv[3], process.argv[4] as Mode)
else main(Number(process.argv[2] ?? 5))
