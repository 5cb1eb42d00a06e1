import test from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import * as yappi from '../index'

const cli = path.join(__dirname, '..', 'src', 'cli.js')
// Serial: each test runs a profiled child process, and timing needs the cores to itself.
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-cli-'))
test.after.always(() => fs.rmSync(dir, { recursive: true, force: true }))

// Few long calls: the callers never get hot enough for TurboFan to inline (and hide) them.
// The loops read process.hrtime(), not hrtime.bigint(): V8 loses the frame of a sample taken
// inside a fast API call such as the latter (see workloads/burn.ts).
const loop = (name: string) =>
  `function ${name}(ms) { const start = process.hrtime(); for (;;) { const [s, ns] = process.hrtime(start); if (s * 1e3 + ns / 1e6 >= ms) return } }\n`
const BURN = `\n${loop('heavy')}${loop('light')}`

function script(name: string, body: string): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, BURN + body)
  return file
}

function run(args: string[]) {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 })
}

/** The row of `name` in a printed table: its ttot column. */
function ttotIn(table: string, name: string, module = 'burn.js'): number {
  const header = table.split('\n').find((line) => line.startsWith('name '))!
  const columns = header.trim().split(/\s+/)
  const row = table.split('\n').find((line) => line.startsWith(`${name} `) && line.includes(module))
  if (!row) throw new Error(`no row ${name} in:\n${table}`)
  return Number(row.trim().split(/\s+/)[columns.indexOf('ttot')])
}

test.serial('--help documents every option', (t) => {
  const result = run(['--help'])
  t.is(result.status, 0)
  for (const option of ['--clock', '--interval', '--builtins', '--no-threads', '--counts', '--output', '--format', '--sort', '--limit']) {
    t.true(result.stdout.includes(option), option)
  }
})

test.serial('profiles a script and its worker, passes its arguments, prints the table and writes the file', (t) => {
  // One module of functions for both threads, so their rows merge: main and worker alike.
  script('burn.js', 'module.exports = { heavy, light }')
  script('worker.js', "require('./burn.js').heavy(150)")
  const file = script(
    'main.js',
    `
const { Worker } = require('node:worker_threads')
const burn = require('./burn.js')
// The worker starts after main's own work: the two never compete for a core.
for (let i = 0; i < 4; i++) { burn.heavy(50); burn.light(25) }
const worker = new Worker(require('node:path').join(__dirname, 'worker.js'), { name: 'helper' })
console.log('args:' + process.argv.slice(2).join(',') + ' main:' + (require.main === module))
worker.on('exit', () => console.log('worker done'))
`,
  )
  const out = path.join(dir, 'main.json')
  const result = run(['--interval', '500', '-o', out, '--sort', 'ttot', '--limit', '0', file, 'x', '--y'])
  t.is(result.status, 0, result.stderr)
  t.regex(result.stdout, /args:x,--y main:true/)
  t.regex(result.stdout, /worker done/)
  t.regex(result.stdout, /Ordered by: ttot, desc/)
  const table = result.stdout
  // heavy: 200 ms on main + 150 ms on the worker; light: 100 ms. Long slices: a starved
  // sampler misplaces time only at the few switches between them (8 on main, 2 in the
  // worker), each by at most the longest gap between its samples, which the file keeps.
  const report = JSON.parse(fs.readFileSync(out, 'utf8')) as { threads: { totals: { max_gap_ns: number } }[] }
  const gap = Math.max(...report.threads.map((thread) => thread.totals.max_gap_ns)) / 1e9
  t.true(Math.abs(ttotIn(table, 'heavy') - 0.35) < 0.05 + 10 * gap, `heavy ${ttotIn(table, 'heavy')}, gaps up to ${gap} s`)
  t.true(Math.abs(ttotIn(table, 'light') - 0.1) < 0.03 + 8 * gap, `light ${ttotIn(table, 'light')}, gaps up to ${gap} s`)
  t.regex(table, /helper/, 'the worker is in the thread table')
  const saved = yappi.load(out)
  t.true(Math.abs(saved.find('heavy', path.join(dir, 'burn.js'))!.ttot - ttotIn(table, 'heavy')) < 1e-5)
})

test.serial('process.exit keeps the exit code and still reports; --format picks the format', (t) => {
  const file = script('exit.js', 'heavy(50); process.exit(3)')
  const out = path.join(dir, 'exit.out')
  const result = run(['--format', 'collapsed', '-o', out, file])
  t.is(result.status, 3)
  t.regex(result.stdout, /heavy/)
  t.regex(fs.readFileSync(out, 'utf8'), /;heavy \(.*exit\.js:\d+\) \d+\n/)
})

test.serial('--counts exact prints exact call counts', (t) => {
  const file = script('counted.js', 'for (let i = 0; i < 7; i++) light(2)\nfor (let i = 0; i < 3; i++) heavy(5)\n')
  const result = run(['--counts', 'exact', '--no-threads', file])
  t.is(result.status, 0, result.stderr)
  const header = result.stdout.split('\n').find((line) => line.startsWith('name '))!
  const column = header.trim().split(/\s+/).indexOf('ncall')
  t.true(column > 0, header)
  const ncall = (name: string) => result.stdout.split('\n').find((line) => line.startsWith(`${name} `))!.trim().split(/\s+/)[column]
  t.is(ncall('light'), '7')
  t.is(ncall('heavy'), '3')
})

test.serial("an application that calls start() and stop() itself joins the CLI's run: nothing thrown, its stop() leaves the run going, a fault says so", (t) => {
  const index = JSON.stringify(path.join(__dirname, '..', 'index.js'))
  const file = script(
    'joins.js',
    `
const yappi = require(${index})
yappi.start({ clock: 'cpu' })
heavy(100)
const during = yappi.isRunning()
yappi.stop()
heavy(100)
console.log('running:' + during + ',' + yappi.isRunning())
console.log('faults:' + JSON.stringify(yappi.getFaults().faults.map((fault) => fault.where)))
`,
  )
  const result = run(['--sort', 'ttot', file])
  t.is(result.status, 0, result.stderr)
  t.is(result.stderr, '')
  t.regex(result.stdout, /running:true,true/)
  t.regex(result.stdout, /faults:\["start","stop"\]/)
  // Both halves profiled, on the CLI's wall clock (its options stand, not the application's cpu).
  t.regex(result.stdout, /Clock type: WALL/)
  const heavy = ttotIn(result.stdout, 'heavy', 'joins.js')
  t.true(Math.abs(heavy - 0.2) < 0.05, `heavy ${heavy}`)
})

test.serial('SIGINT stops the script, prints the table and writes the file', async (t) => {
  const file = script('forever.js', "setInterval(() => heavy(5), 10); console.log('ready')")
  const out = path.join(dir, 'forever.pb.gz')
  const child = spawn(process.execPath, [cli, '-o', out, file], { stdio: ['ignore', 'pipe', 'pipe'] })
  // The script runs forever: if it never says 'ready' or ignores SIGINT, it is killed and the test fails.
  const deadline = setTimeout(() => child.kill('SIGKILL'), 60_000)
  let stdout = ''
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk
    if (stdout.includes('ready') && !child.killed) setTimeout(() => child.kill('SIGINT'), 400)
  })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  clearTimeout(deadline)
  t.is(code, 130)
  t.regex(stdout, /heavy/)
  t.true(fs.statSync(out).size > 0)
})

test.serial('wrong arguments are named, with exit status 2', (t) => {
  const cases: [string[], RegExp][] = [
    [['--clock', 'sundial', 'x.js'], /clock must be 'wall' or 'cpu'/],
    [['--interval', 'fast', 'x.js'], /--interval needs a number, not "fast"/],
    [['--format', 'svg', '-o', 'a', 'x.js'], /unknown format "svg"/],
    [['--sort', 'speed', 'x.js'], /cannot sort by "speed"/],
    [['--limit', '-1', 'x.js'], /--limit needs a whole number/],
    [['--frobnicate', 'x.js'], /unknown option "--frobnicate"/],
    [[], /no script to profile/],
    [[path.join(dir, 'missing.js')], /no such script/],
  ]
  for (const [args, message] of cases) {
    const result = run(args)
    t.is(result.status, 2, args.join(' '))
    t.regex(result.stderr, message)
  }
})
