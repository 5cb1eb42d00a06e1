// `npm start`: profiles a small workload of known shape, prints yappi's tables and saves the
// profile in the formats other tools open.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import * as yappi from '../index'

function fibonacci(n: number): number {
  return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2)
}

function buildDocument(items: number): string {
  const rows = Array.from({ length: items }, (_, i) => ({ id: i, name: `item-${i}`, tags: ['a', 'b', `t${i % 7}`] }))
  return JSON.stringify(rows)
}

function parseAndIndex(text: string): Map<string, number> {
  const index = new Map<string, number>()
  for (const row of JSON.parse(text) as { name: string; tags: string[] }[]) {
    for (const tag of row.tags) index.set(tag, (index.get(tag) ?? 0) + row.name.length)
  }
  return index
}

function sortWords(count: number): string[] {
  const words = Array.from({ length: count }, (_, i) => ((i * 2654435761) % 1_000_003).toString(36))
  return words.sort()
}

function handleRequest(round: number): number {
  const document = buildDocument(2_000)
  const index = parseAndIndex(document)
  return index.size + sortWords(20_000).length + fibonacci(20 + (round % 3))
}

function main(): void {
  yappi.start({ intervalUs: 200 })
  const begin = Date.now()
  let checksum = 0
  while (Date.now() - begin < 1_000) checksum += handleRequest(checksum)
  yappi.stop()

  const stats = yappi.getFuncStats({ module: /examples/ })
  console.log(`yappi-node demo: 1 s of requests (checksum ${checksum})\n`)
  stats.sort('ttot').print({ limit: 12 })
  const handler = stats.find('handleRequest')
  if (handler) {
    console.log(`\nhandleRequest calls: ${handler.callees.map((callee) => `${callee.name} ${callee.ttot.toFixed(3)}s`).join(', ')}\n`)
  }
  yappi.getThreadStats().print()

  const all = yappi.getFuncStats()
  const saved = path.join(os.tmpdir(), 'yappi-demo')
  fs.mkdirSync(saved, { recursive: true })
  console.log('\nSaved for other tools:')
  for (const [file, tool] of [
    ['profile.pb.gz', 'go tool pprof -top (or -http=:8080)'],
    ['callgrind.out.demo', 'callgrind_annotate, KCachegrind'],
    ['profile.cpuprofile', 'Chrome DevTools (Performance → Load profile), VS Code'],
    ['profile.speedscope.json', 'https://www.speedscope.app'],
    ['profile.collapsed', 'flamegraph.pl, inferno-flamegraph'],
  ]) {
    console.log(`  ${all.save(path.join(saved, file)).join(', ')}  →  ${tool}`)
  }
}

main()
