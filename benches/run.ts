/**
 * `npm run bench [-- --full] [-- --only=NAME] [-- --workloads=tsc,acorn] [-- --configs='none,yappi 1ms'] [-- --reps=N]`
 * Runs the benchmarks and writes benches/RESULTS.md. Quick mode (the default) takes a few minutes;
 * NAME is one of `overhead`, `engine` (the main report) or a focused bench (FOCUSED below), which
 * replaces only its own section of RESULTS.md.
 */
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import { busyChecks, busySection, measureBusyWorkers } from './busy-workers'
import type { EngineResults, LongRunResult } from './engine-child'
import { describeMachine } from './machine'
import { measureOverhead, runChild, type OverheadResults } from './overhead'
import { CONFIGS, configNamed } from './profilers'
import { measureReadCost, readChecks, readSection } from './read-cost'
import { renderReport } from './report'
import { measureSamplingCost, samplingCostSection, type SamplingCost } from './sampling-cost'
import { loadAverage, sectionsOf, withSection } from './sections'
import { DEOPT_MODES, SERVER_MODES, deoptSection, measureServer, serverChecks, serverSection } from './server'
import { REPO_ROOT, WORKLOADS, type Size } from './workloads'

interface Check {
  target: string
  measured: string
  pass: boolean
}

/** A focused bench: its section of RESULTS.md (with the load average taken when it ended) and its targets. */
type Focused = (args: Args) => Promise<{ markdown: string; checks: Check[] }>

const FOCUSED: Record<string, Focused> = {
  'sampling-cost': async (args) => {
    const results: SamplingCost[] = []
    for (const node of args.nodes ?? [process.execPath]) results.push(...(await measureSamplingCost(args.reps ?? 12, node)))
    return { markdown: samplingCostSection(results, loadAverage()), checks: [] }
  },
  'busy-workers': async (args) => {
    const results = await measureBusyWorkers(args.size, args.reps ?? 3, log)
    return { markdown: busySection(results, loadAverage()), checks: busyChecks(results) }
  },
  'read-cost': async (args) => {
    const results = await measureReadCost(args.reps ?? 5, log)
    return { markdown: readSection(results, loadAverage()), checks: readChecks(results) }
  },
  server: async (args) => {
    const runs = await measureServer(SERVER_MODES, args.reps ?? 3, log)
    return { markdown: serverSection(runs, loadAverage()), checks: serverChecks(runs) }
  },
  deoptimize: async (args) => {
    const runs = await measureServer(DEOPT_MODES, args.reps ?? 3, log)
    return { markdown: deoptSection(runs, loadAverage()), checks: [] }
  },
}

/** A focused bench's section is per Node major: a run on another version adds its own. */
const sectionName = (name: string) => `${name}-node${process.versions.node.split('.')[0]}`

/** A focused bench's section: its targets first, then its tables. */
function focusedMarkdown(name: string, { markdown, checks }: { markdown: string; checks: Check[] }): string {
  if (checks.length === 0) return markdown
  const rows = checks.map((c) => `| ${c.target} | ${c.measured} | ${c.pass ? '**pass**' : '**FAIL**'} |`)
  const [title, ...rest] = markdown.split('\n')
  return [title, '', `Targets (\`--only=${name}\`):`, '', '| Target | Measured | Result |', '| --- | --- | --- |', ...rows, ...rest].join('\n')
}

interface Args {
  size: Size
  only?: string
  workloads?: string[]
  /** Profiler configurations to run (the baseline always runs). */
  configs?: string[]
  reps?: number
  /** Node binaries the sampling-cost calibration runs on (default: this one). */
  nodes?: string[]
  out: string
}

function parseArgs(argv: string[]): Args {
  const args: Args = { size: 'quick', out: path.join(REPO_ROOT, 'benches', 'RESULTS.md') }
  for (const arg of argv) {
    const [key, value] = arg.split('=', 2)
    if (key === '--quick') args.size = 'quick'
    else if (key === '--full') args.size = 'full'
    else if (key === '--only' && (value === 'overhead' || value === 'engine' || (value !== undefined && value in FOCUSED))) args.only = value
    else if (key === '--workloads' && value) args.workloads = value.split(',')
    else if (key === '--configs' && value) args.configs = value.split(',')
    else if (key === '--reps' && Number(value) >= 1) args.reps = Number(value)
    else if (key === '--out' && value) args.out = path.resolve(value)
    else if (key === '--nodes' && value) args.nodes = value.split(',')
    else throw new Error(`unknown argument ${arg}; use --quick, --full, --only=${['overhead', 'engine', ...Object.keys(FOCUSED)].join('|')}, --workloads=${WORKLOADS.map((w) => w.name).join(',')}, --configs=${CONFIGS.map((c) => c.name).join(',')}, --reps=N, --out=FILE, --nodes=NODE,NODE (sampling-cost)`)
  }
  return args
}

const log = (line: string) => process.stderr.write(`${line}\n`)

/** A `.cpuprofile` of the tsc workload for the engine section, taken by `node --cpu-prof`. */
async function captureTscProfile(size: Size, outDir: string): Promise<string | undefined> {
  const dir = path.join(outDir, 'capture')
  try {
    await runChild('tsc', configNamed('--cpu-prof'), size, dir)
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
    if (!file) return undefined
    const kept = path.join(outDir, 'tsc.cpuprofile')
    fs.renameSync(path.join(dir, file), kept)
    return kept
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function engineChild<T>(section: 'engine' | 'longrun', size: Size, cpuprofile?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'engine-child.js'), [section, size, cpuprofile ?? '-'], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      // The long run reads RSS after a full GC, so garbage JS objects do not pass for growth.
      execArgv: section === 'longrun' ? ['--expose-gc'] : [],
    })
    let result: (T & { error?: string }) | undefined
    child.on('message', (message) => (result = message as T & { error?: string }))
    child.on('error', reject)
    child.on('exit', (code) => {
      if (result?.error) reject(new Error(`engine bench: ${result.error}`))
      else if (!result || code !== 0) reject(new Error(`engine bench: exit ${code}, no result`))
      else resolve(result)
    })
  })
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2))
  const started = Date.now()
  const outDir = path.join(REPO_ROOT, 'benches', 'out')
  fs.mkdirSync(outDir, { recursive: true })
  const previous = fs.existsSync(args.out) ? fs.readFileSync(args.out, 'utf8') : ''
  const focused = args.only === undefined ? Object.keys(FOCUSED) : args.only in FOCUSED ? [args.only] : []
  if (args.only !== undefined && focused.length === 1) {
    log(`${args.only}:`)
    const markdown = focusedMarkdown(args.only, await FOCUSED[args.only](args))
    fs.writeFileSync(args.out, withSection(previous, sectionName(args.only), markdown))
    log(`wrote the ${args.only} section of ${path.relative(process.cwd(), args.out)} in ${Math.round((Date.now() - started) / 1000)} s`)
    return
  }
  let overhead: OverheadResults | undefined
  let engine: EngineResults | undefined
  let longRun: LongRunResult | undefined
  if (args.only !== 'engine') {
    const reps = args.reps ?? (args.size === 'quick' ? 3 : 7)
    log(`overhead: ${reps} repetitions (${args.size})`)
    overhead = await measureOverhead(args.size, reps, outDir, log, args.workloads, args.configs)
  }
  if (args.only !== 'overhead') {
    log('engine: fold, snapshot, rotation, memory')
    const cpuprofile = overhead?.tscProfile ?? (await captureTscProfile(args.size, outDir))
    engine = await engineChild<EngineResults>('engine', args.size, cpuprofile)
    log('engine: memory over a long run')
    longRun = await engineChild<LongRunResult>('longrun', args.size)
  }
  const command = `npm run bench -- ${process.argv.slice(2).join(' ') || '--quick'}`
  let markdown = `${renderReport({ machine: describeMachine(), mode: args.size, command, seconds: (Date.now() - started) / 1000, overhead, engine, longRun })}\n`
  // The focused benches' sections: those run now, else as they were.
  for (const [name, old] of sectionsOf(previous)) if (!focused.map(sectionName).includes(name)) markdown = `${markdown}\n${old}\n`
  for (const name of focused) {
    log(`${name}:`)
    markdown = withSection(markdown, sectionName(name), focusedMarkdown(name, await FOCUSED[name](args)))
  }
  fs.writeFileSync(args.out, markdown)
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ overhead, engine, longRun }, (key, value) => (key === 'workload' || key === 'config' ? value.name : value), 2))
  log(`wrote ${path.relative(process.cwd(), args.out)} in ${Math.round((Date.now() - started) / 1000)} s`)
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error))
  process.exitCode = 1
})
