/**
 * `npm run bench [-- --full] [-- --only=overhead|engine] [-- --workloads=tsc,acorn] [-- --configs='none,yappi 1ms'] [-- --reps=N]`
 * Runs the benchmarks and writes benches/RESULTS.md. Quick mode (the default) takes a few minutes.
 */
import { fork } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import type { EngineResults, LongRunResult } from './engine-child'
import { describeMachine } from './machine'
import { measureOverhead, runChild, type OverheadResults } from './overhead'
import { CONFIGS, configNamed } from './profilers'
import { renderReport } from './report'
import { REPO_ROOT, WORKLOADS, type Size } from './workloads'

interface Args {
  size: Size
  only?: 'overhead' | 'engine'
  workloads?: string[]
  /** Profiler configurations to run (the baseline always runs). */
  configs?: string[]
  reps?: number
  out: string
}

function parseArgs(argv: string[]): Args {
  const args: Args = { size: 'quick', out: path.join(REPO_ROOT, 'benches', 'RESULTS.md') }
  for (const arg of argv) {
    const [key, value] = arg.split('=', 2)
    if (key === '--quick') args.size = 'quick'
    else if (key === '--full') args.size = 'full'
    else if (key === '--only' && (value === 'overhead' || value === 'engine')) args.only = value
    else if (key === '--workloads' && value) args.workloads = value.split(',')
    else if (key === '--configs' && value) args.configs = value.split(',')
    else if (key === '--reps' && Number(value) >= 1) args.reps = Number(value)
    else if (key === '--out' && value) args.out = path.resolve(value)
    else throw new Error(`unknown argument ${arg}; use --quick, --full, --only=overhead|engine, --workloads=${WORKLOADS.map((w) => w.name).join(',')}, --configs=${CONFIGS.map((c) => c.name).join(',')}, --reps=N, --out=FILE`)
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
  const markdown = renderReport({ machine: describeMachine(), mode: args.size, command, seconds: (Date.now() - started) / 1000, overhead, engine, longRun })
  fs.writeFileSync(args.out, `${markdown}\n`)
  fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify({ overhead, engine, longRun }, (key, value) => (key === 'workload' || key === 'config' ? value.name : value), 2))
  log(`wrote ${path.relative(process.cwd(), args.out)} in ${Math.round((Date.now() - started) / 1000)} s`)
}

main().catch((error: unknown) => {
  log(error instanceof Error ? (error.stack ?? error.message) : String(error))
  process.exitCode = 1
})
