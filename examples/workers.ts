// Profiles a main thread and two workers at once, then reads per-thread and merged stats.
// Run: npm run build:ts && node dist/examples/workers.js
import { Worker, isMainThread, parentPort } from 'node:worker_threads'

import * as yappi from '../index'

function checksum(rounds: number): number {
  let sum = 0
  for (let i = 0; i < rounds; i++) sum = (sum + Math.sqrt(i) * 31) % 1_000_003
  return sum
}

function hashStrings(count: number): number {
  let hash = 0
  for (let i = 0; i < count; i++) for (const char of `item-${i}`) hash = (hash * 31 + char.charCodeAt(0)) | 0
  return hash
}

async function main(): Promise<void> {
  yappi.start({ intervalUs: 500 })
  const workers = ['hasher-1', 'hasher-2'].map((name) => new Worker(__filename, { name }))
  const done = workers.map((worker) => new Promise((resolve) => worker.on('exit', resolve)))
  console.log(`main checksum ${checksum(3e7)}`)
  await Promise.all(done)
  yappi.stop()

  const stats = await yappi.snapshot()
  yappi.getThreadStats().print()
  console.log('\nAll threads, merged:')
  stats.print({ limit: 6, columns: [['name', 14], 'ncall', 'ttot', 'tsub', 'samples'] })
  for (const thread of yappi.getThreadStats()) {
    const top = yappi.getFuncStats({ threadId: thread.id }).sort('tsub').toArray()[0]
    console.log(`${thread.name}: busiest function ${top?.name} (${top?.tsub.toFixed(3)} s self)`)
  }
}

if (isMainThread) void main()
else parentPort?.postMessage(hashStrings(3e6))
