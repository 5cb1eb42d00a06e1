// An HTTP server with a known split of time for the attach tests: `/hot` spins HOT_MS in
// `hotRoute`, `/cold` spins COLD_MS in `coldRoute`, `/count` calls `countedCall` exactly
// COUNTED_CALLS times, and a worker thread spins in `workerSpin` now and then. The server
// measures each spin itself (`/truth`), so a test knows the true split of whatever load it sent.
// It never loads yappi-node: `attach` brings it in. With `--with-yappi` it loads yappi-node
// itself and runs its own profiler, to be joined.
import * as http from 'node:http'
import * as path from 'node:path'
import { Worker, isMainThread } from 'node:worker_threads'

import { COLD_MS, COUNTED_CALLS, HOT_MS } from './attach-split'

const WORK_BETWEEN_READS = 1000
let sink = 0
let hotNs = 0
let coldNs = 0

// Each loop is written out in its function (see burn.ts): its self time is the function's own.
function hotRoute(): string {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= HOT_MS) {
      hotNs += seconds * 1e9 + nanos
      break
    }
  }
  return 'hot'
}

function coldRoute(): string {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= COLD_MS) {
      coldNs += seconds * 1e9 + nanos
      break
    }
  }
  return 'cold'
}

let counted = 0
function countedCall(): void {
  counted++
}

function workerSpin(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

if (!isMainThread) {
  // 5 ms of every 50: a second thread to profile that leaves the cores to the server.
  setInterval(() => workerSpin(5), 50)
} else {
  const withYappi = process.argv.includes('--with-yappi')
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const yappi = withYappi ? (require(path.join(__dirname, '..', '..', 'index.js')) as typeof import('../../index')) : undefined
  yappi?.start()
  const worker = new Worker(__filename, { name: 'spinner' })
  worker.unref()
  // Routes return their answer: sending it is Node's work, which the profile charges to the
  // caller (builtins fold into it), not to the spin the server measured.
  const routes: Record<string, () => string> = {
    '/hot': hotRoute,
    '/cold': coldRoute,
    '/count': () => {
      for (let i = 0; i < COUNTED_CALLS; i++) countedCall()
      return String(counted)
    },
    '/truth': () => JSON.stringify({ hotNs, coldNs }),
    '/yappi': () => JSON.stringify({ running: yappi?.isRunning() ?? null, faults: yappi?.getFaults().faults.map((fault) => fault.message) ?? [] }),
    '/inspector': () => JSON.stringify({ url: require('node:inspector').url() ?? null }),
    // What an attach left in yappi-node's engine, if one loaded it: the threads it holds stats of.
    '/engine': () => {
      const loaded = require.cache[path.join(__dirname, '..', '..', 'index.js')]?.exports as typeof import('../../index') | undefined
      return JSON.stringify({ loaded: loaded !== undefined, threads: loaded?.getThreadStats().toArray().length ?? 0, running: loaded?.isRunning() ?? false })
    },
  }
  const server = http.createServer((req, res) => {
    const route = routes[req.url ?? '']
    if (route) res.end(route())
    else res.writeHead(404).end()
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number }
    process.stdout.write(`listening ${port}\n`)
  })
  // Bounded: a server the test forgot cannot outlive it by much.
  setTimeout(() => process.exit(0), 120_000).unref()
  process.on('SIGTERM', () => process.exit(0))
}
