import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { performance } from 'node:perf_hooks'
import { gunzipSync } from 'node:zlib'
import { Profile } from 'pprof-format'

import * as yappi from '../index'
import { request } from './support/http'
import { MARKUP_NAME, OTHER_MS, startServingWorker, type Phase, type ServingWorker } from './workloads/serving'

// The endpoint as pprof's own clients see it, while a worker runs a workload of known split
// (`hot` 75 % of the time, `cold` 25 %, in periods of 2 s) and the main thread serves.
const WORKER_NAME = 'burner'
/** Tolerance of a share, in points, beyond what the window's own placement allows. */
const POINTS = 5

let server: yappi.YappiServer
let worker: ServingWorker
const pprofDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-http-pprof-'))

test.before(async () => {
  yappi.start()
  worker = startServingWorker(WORKER_NAME, 120_000)
  await worker.ready
  server = await yappi.serve()
})

test.after.always(async () => {
  await worker?.stop()
  await server?.close()
  yappi.stop()
  fs.rmSync(pprofDir, { recursive: true, force: true })
})

/** Runs `go tool pprof` without blocking this thread: the server it reads runs here. */
function goPprof(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('go', ['tool', 'pprof', ...args], { env: { ...process.env, PPROF_TMPDIR: pprofDir }, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`go tool pprof ${args.join(' ')}: ${error.message}\n${stderr}`))
      else resolve(`${stdout}${stderr}`)
    })
  })
}

/** `go tool pprof -top -unit=ms` rows by function name: flat and cum in ms. */
function topRows(top: string): Map<string, { flat: number; cum: number }> {
  const rows = new Map<string, { flat: number; cum: number }>()
  // "     flat  flat%   sum%        cum   cum%  name", a zero printed as a bare "0"
  for (const match of top.matchAll(/^\s*([\d.]+)(?:ms)?\s+[\d.]+%\s+[\d.]+%\s+([\d.]+)(?:ms)?\s+[\d.]+%\s+(.+)$/gm)) {
    rows.set(match[3], { flat: Number(match[1]), cum: Number(match[2]) })
  }
  return rows
}

function decode(body: Buffer): Profile {
  return Profile.decode(gunzipSync(body))
}

/**
 * The samples of a decoded profile: each with its thread label and its functions' system
 * names (as the program knows them: pprof shortens the display name), leaf first.
 */
function samplesOf(profile: Profile): { thread: string; stack: string[]; count: number; wallNs: number }[] {
  const strings = profile.stringTable.strings
  const functionName = new Map(profile.function.map((f) => [f.id, strings[Number(f.systemName)]]))
  const locationFunction = new Map(profile.location.map((l) => [l.id, l.line[0]?.functionId]))
  return profile.sample.map((sample) => {
    const thread = sample.label.find((label) => strings[Number(label.key)] === 'thread')
    return {
      thread: thread ? strings[Number(thread.str)] : '',
      stack: sample.locationId.map((id) => functionName.get(locationFunction.get(id)!) ?? ''),
      count: Number(sample.value[0]),
      wallNs: Number(sample.value[1]),
    }
  })
}

const workerSamples = (profile: Profile) =>
  samplesOf(profile)
    .filter((sample) => sample.thread === `${WORKER_NAME} #${worker.threadId}`)
    .reduce((sum, sample) => sum + sample.count, 0)

const samplesUnder = (profile: Profile, name: string) =>
  samplesOf(profile)
    .filter((sample) => sample.stack.includes(name))
    .reduce((sum, sample) => sum + sample.count, 0)

/** Percent of `hot` in the time of `hot` and `cold` together. */
function hotShare(hotS: number, coldS: number): number {
  return (100 * hotS) / (hotS + coldS)
}

/** The worker's true hot share over [from, to) ms, from its phase log. */
function trueShare(phases: Phase[], from: number, to: number): number {
  let hotMs = 0
  let coldMs = 0
  for (const [i, phase] of phases.entries()) {
    const overlap = Math.min(to, phases[i + 1]?.at ?? Infinity) - Math.max(from, phase.at)
    if (overlap <= 0) continue
    if (phase.what === 'hot') hotMs += overlap
    else if (phase.what === 'cold') coldMs += overlap
  }
  return hotShare(hotMs, coldMs)
}

/**
 * The range of true hot shares over every stretch of `durationMs` that lies within [from, to]:
 * a window starts and ends at folds the test cannot see, somewhere between sending the request
 * and reading the answer, and a window longer than the 2 s period holds part of a phase twice.
 */
async function trueShares(from: number, to: number, durationMs: number): Promise<{ min: number; max: number }> {
  const phases = await worker.phases()
  let min = Infinity
  let max = -Infinity
  for (let start = from; start === from || start + durationMs <= to; start += 5) {
    const share = trueShare(phases, start, start + durationMs)
    min = Math.min(min, share)
    max = Math.max(max, share)
  }
  return { min, max }
}

/** Asserts a measured share within {@link POINTS} of the truth of some placement of the window. */
function withinTruth(t: ExecutionContext, what: string, share: number, truth: { min: number; max: number }): void {
  const message = `${what}: hot ${share.toFixed(1)} %, truth ${truth.min.toFixed(1)}-${truth.max.toFixed(1)} % (±${POINTS})`
  t.log(message)
  t.true(share >= truth.min - POINTS && share <= truth.max + POINTS, message)
}

const epochMs = () => performance.timeOrigin + performance.now()

function spinFor(ms: number): void {
  const until = performance.now() + ms
  while (performance.now() < until);
}

test.serial('go tool pprof -top on the live URL names the hot function of the known split within 5 points', async (t) => {
  // Main serves the window and would otherwise only wait (idle time is left out of pprof, as
  // of the table): a few ms of work every 100 ms give it samples in any window, so that its
  // label must be there.
  const busyMain = setInterval(() => spinFor(5), 100)
  const sent = epochMs()
  const top = await goPprof(['-top', '-cum', '-unit=ms', '-nodefraction=0', '-nodecount=200', `${server.url}debug/pprof/profile?seconds=2`]).finally(() => clearInterval(busyMain))
  const answered = epochMs()
  t.log(top.split('\n').slice(0, 14).join('\n'))
  t.regex(top, /Type: wall/)
  const rows = topRows(top)
  const [hot, cold] = [rows.get('hot')?.cum ?? 0, rows.get('cold')?.cum ?? 0]
  t.true(hot + cold > 1500, `the workload ran through the window: ${hot + cold} ms of hot and cold`)

  // pprof saved what it fetched: the worker's wall time in it is how long its window was.
  const saved = fs.readdirSync(pprofDir).filter((name) => name.endsWith('.pb.gz'))
  t.is(saved.length, 1)
  const fetched = samplesOf(decode(fs.readFileSync(path.join(pprofDir, saved[0]))))
  const ofWorker = fetched.filter((sample) => sample.thread === `${WORKER_NAME} #${worker.threadId}`)
  const workerMs = ofWorker.reduce((sum, sample) => sum + sample.wallNs / 1e6, 0)
  const meanGapMs = workerMs / ofWorker.reduce((sum, sample) => sum + sample.count, 0)
  withinTruth(t, `a ${workerMs.toFixed(0)} ms window`, hotShare(hot, cold), await trueShares(sent, answered, workerMs))
  // pprof prints a name in <...> as <unknown> (it takes them for C++ template arguments): read the file.
  // A sampler held up for a third of its run can miss it; then the sample gaps say so.
  if (meanGapMs <= OTHER_MS / 3) t.true(fetched.some((sample) => sample.stack.includes(MARKUP_NAME)), "the worker's other function is in the window too")
  else t.log(`samples ${meanGapMs.toFixed(1)} ms apart on average: a ${OTHER_MS} ms function may fall between them`)
  const tags = await goPprof(['-tags', path.join(pprofDir, saved[0])])
  t.regex(tags, /thread: Total/)
  t.regex(tags, new RegExp(`${WORKER_NAME} #${worker.threadId}`))
  t.regex(tags, /main #0/)
})

test.serial('debug=1 gives the same window as the printed tables', async (t) => {
  const sent = epochMs()
  const answer = await request(`${server.url}debug/pprof/profile?seconds=2&debug=1`)
  const answered = epochMs()
  t.is(answer.status, 200)
  t.regex(answer.headers['content-type'] ?? '', /^text\/plain/)
  t.regex(answer.text, /^What every profiled thread sampled in the last 2 s/)
  // The functions' table, read by its header: "name  module  line  ncall~  ttot  …"
  const lines = answer.text.split('\n')
  const header = lines.findIndex((line) => line.startsWith('name ') && line.includes(' ttot '))
  t.true(header >= 0, 'the functions table has its header')
  const columns = lines[header].trim().split(/\s+/)
  const ttot = new Map<string, number>()
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === '') break
    const fields = line.trim().split(/\s+/)
    // A name with spaces (the workload has one) is not one of the two read here.
    if (fields.length !== columns.length) continue
    ttot.set(fields[0], Number(fields[columns.indexOf('ttot')]))
  }
  // The thread table: "burner  1  <wall>  <cpu>  <idle>  <samples>"
  const workerRow = answer.text.match(new RegExp(`^${WORKER_NAME}\\s+${worker.threadId}\\s+([\\d.]+)\\s`, 'm'))
  t.truthy(workerRow, 'the worker is in the thread table')
  const share = hotShare(ttot.get('hot') ?? 0, ttot.get('cold') ?? 0)
  withinTruth(t, `a ${workerRow![1]} s window`, share, await trueShares(sent, answered, Number(workerRow![1]) * 1000))
})

test.serial('overlapping windows each get their own time, and the continuous stats keep everything', async (t) => {
  const before = (await yappi.snapshot()).find('hot')!.samplesTotal
  const timed = async (delayMs: number, seconds: number) => {
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    const started = process.hrtime.bigint()
    const answer = await request(`${server.url}debug/pprof/profile?seconds=${seconds}`)
    return { answer, elapsedS: Number(process.hrtime.bigint() - started) / 1e9 }
  }
  const [long, short] = await Promise.all([timed(0, 2), timed(500, 1)])
  const after = (await yappi.snapshot()).find('hot')!.samplesTotal
  for (const [window, seconds] of [
    [long, 2],
    [short, 1],
  ] as const) {
    t.is(window.answer.status, 200)
    t.is(window.answer.headers['content-disposition'], 'attachment; filename="profile"')
    const durationS = Number(decode(window.answer.body).durationNanos) / 1e9
    // From the fold at its start to the fold at its end: at least N s, at most what the client waited.
    t.true(durationS >= seconds - 0.05 && durationS <= window.elapsedS + 0.05, `${seconds} s window: ${durationS.toFixed(3)} s, client waited ${window.elapsedS.toFixed(3)} s`)
  }
  const longSamples = workerSamples(decode(long.answer.body))
  const shortSamples = workerSamples(decode(short.answer.body))
  t.true(shortSamples > 0 && shortSamples < longSamples, `worker samples: ${shortSamples} in the 1 s window, ${longSamples} in the 2 s one`)
  // Every sample of hot in the window is one the continuous stats gained meanwhile.
  const longHot = samplesUnder(decode(long.answer.body), 'hot')
  t.true(after - before >= longHot, `the continuous stats gained ${after - before} samples under hot, the 2 s window holds ${longHot}`)
  t.true(longHot > 0, 'the window saw hot')
})
