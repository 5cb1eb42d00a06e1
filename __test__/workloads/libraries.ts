// Real libraries nobody here wrote, run in a loop: acorn parsing, marked rendering, JSON. As a
// worker, it runs the library named in workerData for the given time, then reports what it
// measured of itself: its CPU time (its own thread clock) and its lifetime.
import { CPU_AT_FIRST_LINE } from './birth'

import * as fs from 'node:fs'
import * as path from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'

import * as acorn from 'acorn'
import { marked } from 'marked'

import { ownCpuSeconds } from './thread-clock'

const SOURCE = fs.readFileSync(path.join(path.dirname(require.resolve('acorn')), 'acorn.js'), 'utf8')
const MARKDOWN = '# Title\n\nSome *text* with `code` and a [link](http://example.com).\n\n- one\n- two\n\n'.repeat(200)
const DOCUMENT = JSON.stringify({ items: Array.from({ length: 2000 }, (_, i) => ({ i, name: `item ${i}`, tags: ['a', 'b', String(i % 7)] })) })

export type Library = 'acorn' | 'marked' | 'json'

const RUNS: Record<Library, () => number> = {
  acorn: () => (acorn.parse(SOURCE, { ecmaVersion: 'latest' }) as unknown as { body: unknown[] }).body.length,
  marked: () => (marked.parse(MARKDOWN) as string).length,
  json: () => (JSON.parse(DOCUMENT) as { items: unknown[] }).items.length + JSON.stringify(JSON.parse(DOCUMENT)).length,
}

/** Runs `library` in a loop for `ms`; returns how many runs it made. */
export function runLibrary(library: Library, ms: number): number {
  const until = Date.now() + ms
  let runs = 0
  while (Date.now() < until) {
    RUNS[library]()
    runs++
  }
  return runs
}

export const LIBRARY_WORKER = __filename

export interface LibraryReport {
  runs: number
  /** The thread's CPU clock when its own code began and when it reports. */
  cpuAtFirstLine: number
  cpuAtEnd: number
}

if (parentPort && workerData?.library) {
  parentPort.once('message', () => {
    const runs = runLibrary(workerData.library as Library, workerData.ms as number)
    const report: LibraryReport = { runs, cpuAtFirstLine: CPU_AT_FIRST_LINE, cpuAtEnd: ownCpuSeconds() }
    parentPort?.postMessage(report)
  })
}
