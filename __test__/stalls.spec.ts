import test, { type ExecutionContext } from 'ava'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { threadId } from 'node:worker_threads'

import * as yappi from '../index'
import { BLOCK_TAG, get, requestFromChild, serveStalling, startStallingWorker, type Truth } from './workloads/stalling'

// Known truth: a loopback server whose /block route spins 300 ms in blockInKnownFunction under
// the tag "GET /block" while /fast answers at once and /wait only awaits. Each answer says when
// its handler ran and for how long, on the thread that served it. The profiler rotates every
// 100 ms, so most 300 ms stalls straddle a rotation and must come out joined.
const BLOCK_MS = 300
const FUNCTION = 'blockInKnownFunction'
const WAIT_FOR_STALLS_MS = 20_000

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-stalls-'))
test.after.always(() => {
  yappi.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

/** Rounds of requests, from a child process: fast ones around one block and one wait each; the blocks' truths. */
async function rounds(t: ExecutionContext, port: number, count: number, blockMs = BLOCK_MS): Promise<Truth[]> {
  const fast = Array.from({ length: 5 }, () => '/fast')
  const paths = Array.from({ length: count }, () => [...fast, `/block?ms=${blockMs}`, ...fast, '/wait?ms=200']).flat()
  const client = requestFromChild(port, paths)
  t.teardown(client.kill)
  return client.done
}

/** Stalls of `thread` since `since`, once there are `count` of them (rotating every thread), or what there is at the deadline. */
async function stallsOf(thread: number, since: number, count: number): Promise<yappi.Stalls> {
  const deadline = Date.now() + WAIT_FOR_STALLS_MS
  for (;;) {
    await yappi.snapshot()
    const stalls = yappi.getStalls({ threadId: thread, since })
    if (stalls.length >= count || Date.now() > deadline) return stalls
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/**
 * Runs the paths once, under the profiler, before the measured stretch: V8's sampler cannot
 * name code in the moments it is being optimized on the stack, and charges those samples to the
 * caller, so a first call's stall shows up to 10 % in the route's closure instead.
 */
async function warmUp(port: number): Promise<void> {
  for (const path of ['/fast', '/block?ms=60', '/fast', '/block?ms=60']) await get(port, path)
  await new Promise((resolve) => setTimeout(resolve, 300))
}

const overlaps = (stall: yappi.Stall, truth: Truth): boolean => stall.start < truth.start + truth.syncMs && truth.start < stall.start + stall.durationMs

/** Exactly one stall per block, each right in function, tag and duration; nothing else. */
function checkStalls(t: ExecutionContext, stalls: yappi.Stalls, truths: Truth[]): void {
  for (const stall of stalls) t.log(stall.format().trimEnd())
  t.is(stalls.length, truths.length, 'one stall per blocked request and no other (fast requests and awaits record none)')
  for (const truth of truths) {
    const matching = stalls.filter((stall) => overlaps(stall, truth))
    t.is(matching.length, 1, `one stall over the block at ${new Date(truth.start).toISOString()}`)
    const stall = matching[0]
    if (!stall) continue
    const tolerance = stall.edgeGapMs + 0.1 * truth.syncMs
    t.true(Math.abs(stall.durationMs - truth.syncMs) <= tolerance, `${stall.durationMs.toFixed(1)} ms vs ${truth.syncMs.toFixed(1)} ms blocked (±${tolerance.toFixed(1)})`)
    t.is(stall.functions[0]?.name, FUNCTION)
    const share = (stall.functions[0]?.selfMs ?? 0) / stall.durationMs
    t.true(share >= 0.9, `${FUNCTION} has ${(share * 100).toFixed(1)} % of the stall`)
    t.is(stall.heaviestPath.at(-1)?.name, FUNCTION, 'the heaviest path ends in it')
    t.is(stall.tag, BLOCK_TAG)
    t.is(stall.threadId, truth.threadId)
    t.false(stall.cut)
  }
}

test.serial('stalls on the main thread: exactly the blocked requests, with their function, tag and duration', async (t) => {
  yappi.clearStats()
  yappi.start({ rotateIntervalMs: 100 })
  t.teardown(() => void yappi.stop())
  const server = await serveStalling()
  t.teardown(() => server.close())
  // Warm up the client and server paths (undici, the parser) before the measured stretch.
  await warmUp(server.port)
  const since = Date.now()
  const truths = await rounds(t, server.port, 3)
  const stalls = await stallsOf(threadId, since, truths.length)
  checkStalls(t, stalls, truths)
  t.log(`profiles per stall: ${stalls.map((stall) => stall.profiles).join(', ')}`)
  yappi.stop()
})

test.serial('stalls in a worker: the same, found on the worker thread', async (t) => {
  yappi.clearStats()
  yappi.start({ rotateIntervalMs: 100 })
  t.teardown(() => void yappi.stop())
  const worker = await startStallingWorker(120_000)
  t.teardown(() => worker.stop())
  await warmUp(worker.port)
  const since = Date.now()
  const truths = await rounds(t, worker.port, 3)
  t.true(truths.every((truth) => truth.threadId === worker.threadId))
  const stalls = await stallsOf(worker.threadId, since, truths.length)
  checkStalls(t, stalls, truths)
  t.is(yappi.getStalls({ threadId, since }).length, 0, 'the main thread, which only awaited the answers, did not stall')
  yappi.stop()
})

test.serial('the ring keeps the newest stalls and counts the dropped; clearStats() clears them', async (t) => {
  yappi.clearStats()
  yappi.start({ rotateIntervalMs: 100, maxStalls: 2 })
  t.teardown(() => void yappi.stop())
  const server = await serveStalling()
  t.teardown(() => server.close())
  const truths = await rounds(t, server.port, 4, 150)
  const deadline = Date.now() + WAIT_FOR_STALLS_MS
  let stalls = yappi.getStalls()
  while (stalls.length + stalls.dropped < truths.length && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    stalls = yappi.getStalls()
  }
  t.is(stalls.length, 2)
  t.true(stalls.dropped >= 2, `${stalls.dropped} dropped`)
  t.true(overlaps(stalls[0], truths[2]) && overlaps(stalls[1], truths[3]), 'the two held are the last two')
  t.deepEqual(yappi.getStalls({ minDurationMs: 10_000 }).map((stall) => stall.id), [])
  yappi.clearStats()
  const cleared = yappi.getStalls()
  t.is(cleared.length + cleared.dropped, 0)
  yappi.stop()
})

test.serial('onStall calls back with each new stall; a throwing callback is a fault, not the application\'s error', async (t) => {
  yappi.clearStats()
  yappi.clearFaults()
  yappi.start({ rotateIntervalMs: 100 })
  t.teardown(() => void yappi.stop())
  const server = await serveStalling()
  t.teardown(() => server.close())
  const seen: yappi.Stall[] = []
  const unsubscribeThrowing = yappi.onStall(() => {
    throw new Error('a user callback that throws')
  })
  const unsubscribe = yappi.onStall((stall) => void seen.push(stall))
  t.teardown(() => {
    unsubscribe()
    unsubscribeThrowing()
  })
  const [truth] = await rounds(t, server.port, 1)
  const deadline = Date.now() + WAIT_FOR_STALLS_MS
  while (!seen.some((stall) => overlaps(stall, truth)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  t.true(seen.some((stall) => overlaps(stall, truth) && stall.functions[0]?.name === FUNCTION), 'the callback saw the stall')
  const fault = yappi.getFaults().faults.find((entry) => entry.where === 'onStall')
  t.truthy(fault, 'the throwing callback is recorded')
  t.regex(fault?.message ?? '', /a user callback that throws/)
  t.is((await get(server.port, '/fast')).syncMs < 100, true, 'the application goes on')
  yappi.stop()
})

test.serial('a stall exports to every format, each read back by its tool', async (t) => {
  yappi.clearStats()
  yappi.start({ rotateIntervalMs: 100 })
  t.teardown(() => void yappi.stop())
  const server = await serveStalling()
  t.teardown(() => server.close())
  const since = Date.now()
  const [truth] = await rounds(t, server.port, 1)
  const stall = (await stallsOf(threadId, since, 1)).find((candidate) => overlaps(candidate, truth))
  yappi.stop()
  if (!stall) return t.fail('no stall recorded')
  const selfMs = stall.functions[0].selfMs

  const collapsed = stall.toBuffer('collapsed').toString()
  const line = collapsed.split('\n').find((row) => row.split(' ')[0].endsWith(`${FUNCTION} (${__dirname}/workloads/stalling.js:21)`) || row.includes(`;${FUNCTION} `))
  t.truthy(line, collapsed)
  t.true(Math.abs(Number(line?.split(' ').at(-1)) / 1000 - selfMs) <= 1, `collapsed: ${line}`)

  const speedscope = JSON.parse(stall.toBuffer('speedscope').toString()) as { shared: { frames: { name: string }[] }; profiles: unknown[] }
  t.true(speedscope.shared.frames.some((frame) => frame.name.startsWith(FUNCTION)))
  t.is(speedscope.profiles.length, 1, 'one thread: the stall')

  const cpuprofile = JSON.parse(stall.toBuffer('cpuprofile').toString()) as { nodes: { callFrame: { functionName: string } }[] }
  t.true(cpuprofile.nodes.some((node) => node.callFrame.functionName === FUNCTION))

  const pprofFile = stall.save(path.join(dir, 'stall.pb.gz'))
  const top = execFileSync('go', ['tool', 'pprof', '-top', '-unit=ms', '-nodecount=50', pprofFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  const row = top.split('\n').find((text) => text.trim().endsWith(FUNCTION))
  t.truthy(row, top)
  t.true(Math.abs(Number.parseFloat(row?.trim().split(/\s+/)[0] ?? '') - selfMs) <= 1, `pprof: ${row}`)

  const callgrindFile = stall.save(path.join(dir, 'callgrind.out.stall'))
  const annotated = execFileSync('callgrind_annotate', ['--threshold=100', '--auto=no', callgrindFile], { encoding: 'utf8' })
  t.regex(annotated, new RegExp(FUNCTION))
  t.true(stall.format().includes(FUNCTION) && stall.format().includes(BLOCK_TAG), 'the printed form names the function and the tag')
})
