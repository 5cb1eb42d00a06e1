// Reported overhead against the slowdown measured from outside, on the same runs: each workload
// runs in fresh processes without a profiler, with V8's sampler alone, and with yappi-node
// (interleaved, several times); a yappi-node run also reports getOverhead(). Compared: the
// median reported percentage and the median slowdowns of the workload's wall time.
//
//   node dist/benches/reported-overhead.js [runs]
import { execFileSync } from 'node:child_process'
import { Session } from 'node:inspector'

import * as yappi from '../index'

const pause = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

function score(text: string): number {
  let hash = 0
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0
  return hash
}

/** CPU-bound JavaScript in short turns of the event loop (rotations run in between). */
async function compute(): Promise<number> {
  let acc = 0
  for (let turn = 0; turn < 400; turn++) {
    for (let i = 0; i < 200_000; i++) acc = (acc + ((i * 2654435761) % 97)) % 1_000_003
    await pause()
  }
  return acc
}

/** A request-handler shape: many small async tasks parsing and building JSON, with a stats reader. */
async function server(): Promise<number> {
  let total = 0
  const handle = async (id: number): Promise<number> => {
    const request = JSON.stringify({ id, items: Array.from({ length: 50 }, (_, k) => ({ k, name: `item${k}` })) })
    await pause()
    const parsed = JSON.parse(request) as { items: { name: string }[] }
    return score(parsed.items.map((item) => item.name).join(','))
  }
  for (let batch = 0; batch < 400; batch++) {
    const results = await Promise.all(Array.from({ length: 50 }, (_, k) => handle(batch * 50 + k)))
    total = (total + results.reduce((a, b) => a + b, 0)) | 0
  }
  return total
}

const WORKLOADS: Record<string, () => Promise<number>> = { compute, server }

/**
 * V8's sampler alone, through a plain inspector session and no yappi code: the part of the
 * slowdown that happens inside V8 (signals, stack walks, the sampler thread), which no timer
 * in the profiler's code can see.
 */
function startV8Only(): () => void {
  const session = new Session()
  session.connect()
  session.post('Profiler.enable')
  session.post('Profiler.start')
  return () => {
    session.post('Profiler.stop')
    session.disconnect()
  }
}

async function child(workload: string, mode: Mode): Promise<void> {
  const profiled = mode === 'yappi'
  const stopV8 = mode === 'v8' ? startV8Only() : undefined
  if (profiled) yappi.start()
  const reader = profiled && workload === 'server' ? setInterval(() => yappi.getFuncStats(), 200) : undefined
  const started = process.hrtime.bigint()
  const result = await WORKLOADS[workload]()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  clearInterval(reader)
  const overhead = profiled ? yappi.getOverhead() : undefined
  if (profiled) yappi.stop()
  stopV8?.()
  process.stdout.write(`${JSON.stringify({ ms, result, percent: overhead?.percent ?? 0 })}\n`)
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]
}

type Mode = 'none' | 'v8' | 'yappi'
const MODES: Mode[] = ['none', 'v8', 'yappi']

function main(runs: number): void {
  for (const workload of Object.keys(WORKLOADS)) {
    const times: Record<Mode, number[]> = { none: [], v8: [], yappi: [] }
    const reported: number[] = []
    for (let run = 0; run < runs; run++) {
      // Interleaved, so drift in the machine's load touches every mode alike.
      for (const mode of MODES) {
        const out = execFileSync(process.execPath, [__filename, '--child', workload, mode], { encoding: 'utf8' })
        const { ms, percent } = JSON.parse(out) as { ms: number; percent: number }
        times[mode].push(ms)
        if (mode === 'yappi') reported.push(percent)
      }
    }
    const [none, v8, yappi] = MODES.map((mode) => median(times[mode]))
    const slowdown = (ms: number): string => `${((100 * (ms - none)) / none).toFixed(1)} %`
    console.log(
      `${workload}: median of ${runs} runs: ${none.toFixed(0)} ms without, ${v8.toFixed(0)} ms with V8's sampler alone, ${yappi.toFixed(0)} ms with yappi-node; ` +
        `measured slowdown: V8 sampler ${slowdown(v8)}, yappi-node ${slowdown(yappi)}; reported overhead ${median(reported).toFixed(2)} % ` +
        `(runs: ${reported.map((p) => p.toFixed(2)).join(', ')})`,
    )
  }
}

if (process.argv[2] === '--child') void child(process.argv[3], process.argv[4] as Mode)
else main(Number(process.argv[2] ?? 5))
