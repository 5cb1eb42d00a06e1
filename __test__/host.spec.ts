// Never harm the host: beside other tools (their output intact, nothing on stderr) and under
// stress (no crash, no hang, no unhandled rejection).
import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { COUNTED_CALLS, SPIN_MS } from './workloads/host'

const FIXTURE = path.join(__dirname, 'workloads', 'host.js')

interface Outcome {
  code: number | null
  /** The scenario's last line: its findings, or its last step when it was killed. */
  stdout: string
  stderr: string
}

/** A scenario that prints nothing for this long is hung; a slow one goes on printing its steps. */
const SILENCE_MS = 60_000
const RUN_CAP_MS = 480_000

/** Runs a scenario in a process of its own, killed when it falls silent or at the cap. */
function run(args: string[], env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = []): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeArgs, FIXTURE, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killedWhy = ''
    const kill = (why: string): void => {
      killedWhy = why
      child.kill('SIGKILL')
    }
    let silence = setTimeout(() => kill(`silent for ${SILENCE_MS} ms`), SILENCE_MS)
    const cap = setTimeout(() => kill(`still running after ${RUN_CAP_MS} ms`), RUN_CAP_MS)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      clearTimeout(silence)
      silence = setTimeout(() => kill(`silent for ${SILENCE_MS} ms`), SILENCE_MS)
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('close', (code, signal) => {
      clearTimeout(silence)
      clearTimeout(cap)
      const last = stdout.trimEnd().split('\n').at(-1) ?? ''
      const death = killedWhy ? `killed, ${killedWhy}` : signal ? `died of ${signal}` : ''
      resolve({ code, stdout: last, stderr: death ? `${death}, after ${last}\n${stderr}` : stderr })
    })
  })
}

interface Findings {
  spinMain: number
  spinWorker: number
  spinMainAndCaller: number
  spinWorkerAndCaller: number
  gapMain: number
  gapWorkers: number
  faults: unknown[]
}

/**
 * Each spin ran SPIN_MS of wall time (twice in workers). A sampler that the loaded machine
 * did not schedule misses at most the longest gap it left, before and after the spin. V8 may
 * charge part of a spin to its caller (a quarter of main's once, Node 20 in CI; 10-20 ms of a
 * worker's spin often), so the time is checked with the callers' self time, and the spin itself
 * must still hold most of it.
 */
function measuredTheSpins(t: ExecutionContext, findings: Findings): void {
  const spin = SPIN_MS / 1000
  const found = JSON.stringify(findings)
  t.true(findings.spinMainAndCaller >= spin - 2 * findings.gapMain - 0.002, `main: ${found}`)
  t.true(findings.spinWorkerAndCaller >= 2 * spin - 2 * findings.gapWorkers - 0.004, `workers: ${found}`)
  t.true(findings.spinMain >= spin / 2 && findings.spinWorker >= spin, `the spins are named: ${found}`)
}

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-host-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

for (const ending of ['naturally', 'by process.exit'] as const) {
  test(`beside --cpu-prof, ending ${ending}: nothing on stderr, and every thread's .cpuprofile is complete`, async (t) => {
    const dir = scratch(t)
    const outcome = await run(['beside-tools', ending === 'naturally' ? '' : 'exit'], process.env, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
    t.is(outcome.code, 0, outcome.stderr)
    t.is(outcome.stderr, '', 'not a byte on stderr')
    const findings = JSON.parse(outcome.stdout) as Findings
    measuredTheSpins(t, findings)
    t.deepEqual(findings.faults, [])
    const profiles = fs.readdirSync(dir).map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { nodes: { callFrame: { functionName: string } }[] })
    t.is(profiles.length, 3, "main's and the two workers' profiles, none of the profiler thread")
    const named = (name: string): number => profiles.filter((profile) => profile.nodes.some((node) => node.callFrame.functionName === name)).length
    t.is(named('spinMain'), 1)
    t.is(named('spinWorker'), 2)
  })

  test(`beside NODE_V8_COVERAGE, ending ${ending}: nothing on stderr, and the coverage counts every call`, async (t) => {
    const dir = scratch(t)
    const outcome = await run(['beside-tools', ending === 'naturally' ? '' : 'exit'], { ...process.env, NODE_V8_COVERAGE: dir })
    t.is(outcome.code, 0, outcome.stderr)
    t.is(outcome.stderr, '', 'not a byte on stderr')
    const findings = JSON.parse(outcome.stdout) as Findings
    measuredTheSpins(t, findings)
    t.deepEqual(findings.faults, [])
    interface Coverage {
      result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[]
    }
    const reports = fs.readdirSync(dir).map((file) => JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as Coverage)
    t.is(reports.length, 3, "main's and the two workers' reports")
    const countOf = (name: string): number[] =>
      reports.flatMap((report) => report.result.filter((script) => script.url.endsWith('/host.js')).flatMap((script) => script.functions.filter((fn) => fn.functionName === name).map((fn) => fn.ranges[0].count)))
    t.true(countOf('counted').includes(COUNTED_CALLS), `counted() was called ${COUNTED_CALLS} times: ${countOf('counted')}`)
    t.deepEqual(countOf('spinWorker').filter((count) => count > 0), [1, 1])
  })
}

test('stop() with exact counts while workers exit, are terminated and spin, twenty times: the process finishes, nothing unhandled, nothing on stderr', async (t) => {
  t.timeout(RUN_CAP_MS + 10_000)
  const outcome = await run(['stop-while-workers-end'])
  t.is(outcome.code, 0, outcome.stderr)
  t.is(outcome.stderr, '')
  const findings = JSON.parse(outcome.stdout) as { rejections: number }
  t.is(findings.rejections, 0)
})

test('a start/stop storm: random calls from random threads while workers come, leave and are terminated, exact counts included: no hang, nothing unhandled, no rotation lost', async (t) => {
  t.timeout(RUN_CAP_MS + 10_000)
  const seed = Math.floor(Math.random() * 1e9)
  const outcome = await run(['storm', '', '600', String(seed)])
  t.is(outcome.code, 0, `seed ${seed}: ${outcome.stderr}`)
  t.is(outcome.stderr, '', `seed ${seed}`)
  const findings = JSON.parse(outcome.stdout) as {
    refused: number
    terminated: number
    rejections: number
    failures: string[]
    hangs: string[]
    lostRotations: unknown[]
    faults: { where: string; count: number }[]
  }
  t.log(`seed ${seed}: ${findings.refused} calls refused by the API, ${findings.terminated} workers terminated`)
  t.deepEqual(findings.failures, [], `seed ${seed}: every call either worked or was refused with a YappiError`)
  t.deepEqual(findings.hangs, [], `seed ${seed}`)
  t.is(findings.rejections, 0, `seed ${seed}`)
  t.deepEqual(findings.lostRotations, [], `seed ${seed}`)
  const unexpected = findings.faults.filter((fault) => fault.where !== 'thread ended' && fault.where !== 'exact counts')
  t.deepEqual(unexpected, [], `seed ${seed}: only terminated workers lose data`)
  const lost = findings.faults.find((fault) => fault.where === 'thread ended')?.count ?? 0
  t.true(lost <= findings.terminated, `seed ${seed}: ${lost} threads lost their last profile, ${findings.terminated} were terminated`)
})
