// A server whose one route blocks its thread's event loop in a known function while the others
// stay fast, for the stall tests. It runs on the thread that calls `serveStalling()` — the main
// thread, or a worker started with `startStallingWorker()` — and every answer says what truly
// happened in its thread: when the handler began (epoch ms) and how long it ran synchronously.
import { spawn } from 'node:child_process'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, threadId, workerData } from 'node:worker_threads'

import * as yappi from '../../index'

export const BLOCK_TAG = 'GET /block'
export const FAST_TAG = 'GET /fast'
export const WAIT_TAG = 'GET /wait'

// More work between clock reads than burn.ts does: a sample inside `process.hrtime()` is charged
// to the caller, and this function's share of its stall is what the tests check.
const WORK_BETWEEN_READS = 20_000
let sink = 0

/** Blocks the loop for `ms` in its own loop (plain JavaScript between clock reads, see burn.ts). */
export function blockInKnownFunction(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

/** What a request did on the serving thread. */
export interface Truth {
  threadId: number
  /** When the handler began, epoch ms. */
  start: number
  /** How long it ran before returning to the loop, ms. */
  syncMs: number
}

const now = (): number => performance.timeOrigin + performance.now()

/** A stretch in which this thread's loop ran no timer: from the last tick before it to the first after, epoch ms. */
export interface LoopGap {
  start: number
  end: number
}

const TICK_MS = 10
/**
 * Gaps this long or longer are kept: a tick late by half its period, well below any threshold
 * the tests use. Short enough that a busy stretch the timer cut in two (it ran once, between a
 * block and the work after it, without the loop waiting) is seen on both sides of that tick.
 */
const GAP_MS = 15
const gaps: LoopGap[] = []

/**
 * The loop's own account of when it stood still, independent of the profiler: a 10 ms timer
 * that notes every gap between its ticks of 50 ms or more. On a loaded machine a thread is
 * descheduled now and then in the middle of a fast request, and its loop then truly does not
 * turn; this is how the tests tell such stalls from false ones.
 */
function watchLoop(): () => void {
  let last = now()
  const timer = setInterval(() => {
    const tick = now()
    if (tick - last >= GAP_MS && gaps.length < 10_000) gaps.push({ start: last, end: tick })
    last = tick
  }, TICK_MS)
  timer.unref()
  return () => clearInterval(timer)
}

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const start = now()
  const url = new URL(req.url ?? '/', 'http://x')
  const ms = Number(url.searchParams.get('ms') ?? 0)
  const answer = (): void => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ threadId, start, syncMs: now() - start } satisfies Truth))
  }
  if (url.pathname === '/block') return yappi.withTag(BLOCK_TAG, () => {
    blockInKnownFunction(ms)
    answer()
  })
  if (url.pathname === '/gaps') return void res.end(JSON.stringify(gaps))
  if (url.pathname === '/wait') {
    // A loop that only awaits: many short turns, each far below any threshold.
    return void yappi.withTag(WAIT_TAG, async () => {
      for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, ms / 10))
      res.end(JSON.stringify({ threadId, start, syncMs: 0 }))
    })
  }
  yappi.withTag(FAST_TAG, () => {
    sink = (sink + JSON.stringify({ a: [1, 2, 3], b: 'fast' }).length) % 1_000_003
    answer()
  })
}

/** Serves on a loopback port of this thread; resolves with the port. */
export function serveStalling(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer(handle)
  server.keepAliveTimeout = 100
  const unwatch = watchLoop()
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => new Promise<void>((done) => {
          unwatch()
          server.closeAllConnections()
          server.close(() => done())
        }),
      }),
    )
  })
}

/**
 * Where the thread serving `port` stood still, by its loop's timer: the gaps it noted, those
 * that meet at a tick joined into one. The loop ran that tick's timer between two busy
 * stretches, and waited at most one period there: a stall (no idle sample) may go on through it.
 */
export async function loopGaps(port: number): Promise<LoopGap[]> {
  const response = await fetch(`http://127.0.0.1:${port}/gaps`, { signal: AbortSignal.timeout(10_000) })
  const joined: LoopGap[] = []
  for (const gap of (await response.json()) as LoopGap[]) {
    const last = joined.at(-1)
    if (last && last.end === gap.start) last.end = gap.end
    else joined.push({ ...gap })
  }
  return joined
}

/** GETs `path` from a loopback port; fails after `deadlineMs`. */
export async function get(port: number, path: string, deadlineMs = 10_000): Promise<Truth> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(deadlineMs) })
  if (!response.ok) throw new Error(`${path}: ${response.status}`)
  return (await response.json()) as Truth
}

/**
 * Requests `paths` one after the other from a child process (so that no client work runs on
 * the serving thread's loop); resolves with their truths, rejects after `deadlineMs`.
 */
export function requestFromChild(port: number, paths: string[], deadlineMs = 60_000): { done: Promise<Truth[]>; kill: () => void } {
  const child = spawn(process.execPath, [__filename, 'client', String(port), JSON.stringify(paths)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
  const done = new Promise<Truth[]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the client did not finish within ${deadlineMs} ms: ${err}`))
    }, deadlineMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(JSON.parse(out) as Truth[])
      else reject(new Error(`the client exited with ${code}: ${err}`))
    })
  })
  return { done, kill: () => void child.kill('SIGKILL') }
}

export interface StallingWorker {
  threadId: number
  port: number
  stop(): Promise<void>
}

/** The same server in a worker, which exits when told or after `maxMs` by itself. */
export async function startStallingWorker(maxMs: number): Promise<StallingWorker> {
  const worker = new Worker(__filename, { name: 'stalling', workerData: { maxMs } })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  const stop = async (): Promise<void> => {
    worker.postMessage('stop')
    const timer = setTimeout(() => void worker.terminate(), 5000)
    await exited
    clearTimeout(timer)
  }
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the stalling worker did not listen within 20 s')), 20_000)
      worker.once('message', (message: number) => {
        clearTimeout(timer)
        resolve(message)
      })
      worker.once('error', reject)
      void exited.then(() => reject(new Error('the stalling worker exited before it listened')))
    })
    return { threadId: worker.threadId, port, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

if (isMainThread && require.main === module && process.argv[2] === 'client') {
  const [port, paths] = [Number(process.argv[3]), JSON.parse(process.argv[4] ?? '[]') as string[]]
  void (async () => {
    // The parent's spawn() has returned before this: its measured stretch begins then.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const truths: Truth[] = []
    for (const path of paths) truths.push(await get(port, path))
    process.stdout.write(JSON.stringify(truths.filter((_, at) => paths[at].startsWith('/block'))))
  })().catch((error: unknown) => {
    process.stderr.write(String(error))
    process.exitCode = 1
  })
}

if (!isMainThread && (workerData as { maxMs?: number } | undefined)?.maxMs !== undefined) {
  void serveStalling().then(({ port, close }) => {
    const end = (): void => void close().then(() => parentPort?.close())
    const timer = setTimeout(end, (workerData as { maxMs: number }).maxMs)
    parentPort?.once('message', () => {
      clearTimeout(timer)
      end()
    })
    parentPort?.postMessage(port)
  })
}
