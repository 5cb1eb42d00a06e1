#!/usr/bin/env node
// `yappi-node [options] script [args]`: profiles a script (and its workers) from its first
// line, prints the stats table when it ends (naturally, by process.exit, or on SIGINT/SIGTERM)
// and writes the stats to a file when asked.
import * as fs from 'node:fs'
import Module from 'node:module'
import * as path from 'node:path'

import { YappiError, describe } from './errors'
import { getFuncStats, getThreadStats, snapshot, startAsTool, stopAsTool } from './api'
import { resolveOptions, type StartOptions } from './options'
import { SAVE_FORMATS, resolveFormat, type SaveFormat } from './saved'
import { resolveSort } from './stats'

const USAGE = `Usage: yappi-node [options] <script> [script arguments]

Profiles <script> and every worker thread it starts, then prints the stats table when the
script ends (also on process.exit, SIGINT and SIGTERM).

Options:
  --clock wall|cpu     what times measure: elapsed time (default) or CPU time
  --interval <us>      sampling interval in microseconds (default 1000)
  --builtins           show Node internals and V8 natives as functions of their own
  --no-threads         profile the main thread only, not worker threads
  --counts exact       exact call counts from V8's precise coverage (slower)
  -o, --output <file>  also write the stats to <file>
  --format <format>    format of <file>: ${SAVE_FORMATS.join(', ')}
                       (default: implied by the file name, e.g. *.pb.gz, *.cpuprofile)
  --sort <key>         table order: ttot (default), tsub, tavg, ncall, name, ...
  --limit <n>          rows in the table (default 30; 0 for all)
  --quiet              print no table (with -o: only write the file)
  -h, --help           print this help
  -v, --version        print yappi-node's version

Exit status: the script's own; 2 when yappi-node's arguments are wrong.`

interface CliOptions {
  start: StartOptions
  output?: string
  format?: SaveFormat
  sort: string
  limit: number
  quiet: boolean
  script: string
  args: string[]
}

function numberArg(name: string, value: string | undefined): number {
  const parsed = Number(value)
  if (value === undefined || value.trim() === '' || !Number.isFinite(parsed)) {
    throw new YappiError(`${name} needs a number, not ${describe(value)}`)
  }
  return parsed
}

/** Options up to the script; everything after the script is the script's own. */
export function parseCli(argv: string[]): CliOptions | 'help' | 'version' {
  const start: StartOptions = {}
  const cli: Partial<CliOptions> = { sort: 'ttot', limit: 30, quiet: false }
  let at = 0
  const value = (name: string) => {
    const next = argv[++at]
    if (next === undefined) throw new YappiError(`${name} needs a value`)
    return next
  }
  for (; at < argv.length; at++) {
    const arg = argv[at]
    if (arg === '--') {
      at++
      break
    }
    if (!arg.startsWith('-') || arg === '-') break
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    const take = () => inline ?? value(flag)
    switch (flag) {
      case '-h':
      case '--help':
        return 'help'
      case '-v':
      case '--version':
        return 'version'
      case '--clock':
        start.clock = take() as StartOptions['clock']
        break
      case '--interval':
        start.intervalUs = numberArg(flag, take())
        break
      case '--builtins':
        start.builtins = true
        break
      case '--no-threads':
        start.threads = false
        break
      case '--counts':
        ;(start as Record<string, unknown>).counts = take()
        break
      case '-o':
      case '--output':
        cli.output = take()
        break
      case '--format':
        cli.format = resolveFormat(take())
        break
      case '--sort':
        cli.sort = take()
        resolveSort(cli.sort, 'desc')
        break
      case '--limit': {
        const limit = numberArg(flag, take())
        if (!Number.isInteger(limit) || limit < 0) throw new YappiError(`--limit needs a whole number >= 0, not ${limit}`)
        cli.limit = limit
        break
      }
      case '--quiet':
        cli.quiet = true
        break
      default:
        throw new YappiError(`unknown option ${describe(arg)}`)
    }
  }
  const script = argv[at]
  if (script === undefined) throw new YappiError('no script to profile')
  if (cli.format && !cli.output) throw new YappiError('--format needs -o <file>')
  if (cli.output) cli.format = resolveFormat(cli.format, cli.output)
  return { ...(cli as CliOptions), start, script: path.resolve(script), args: argv.slice(at + 1) }
}

function report(options: CliOptions): void {
  const stats = getFuncStats()
  if (!options.quiet) {
    const limit = options.limit === 0 ? undefined : options.limit
    fs.writeSync(process.stdout.fd, `\n${stats.sort(options.sort, 'desc').format({ limit })}\n${getThreadStats().format()}`)
  }
  if (options.output) {
    const written = stats.save(options.output, options.format)
    fs.writeSync(process.stderr.fd, `yappi-node: wrote ${written.join(', ')}\n`)
  }
}

/** Reports when the script ends; `started()` says whether profiling began (else there is nothing to report). */
function installReport(options: CliOptions, started: () => boolean): void {
  let reported = false
  const finish = (): void => {
    if (reported || !started()) return
    reported = true
    try {
      stopAsTool()
      report(options)
    } catch (error) {
      fs.writeSync(process.stderr.fd, `yappi-node: ${(error as Error).message}\n`)
    }
  }
  // A natural end leaves time to collect the workers' last profiles first; process.exit()
  // does not, and gets what was folded so far.
  const finishFresh = async (): Promise<void> => {
    if (reported) return
    await snapshot().catch(() => undefined)
    finish()
  }
  process.once('beforeExit', () => void finishFresh())
  process.once('exit', finish)
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    process.once(signal, () => {
      void finishFresh().then(() => {
        // The script's own handlers decide whether to exit; without any, exit as Node would.
        if (process.listenerCount(signal) === 0) process.exit(code)
      })
    })
  }
}

function main(argv: string[]): void {
  let options: ReturnType<typeof parseCli>
  try {
    options = parseCli(argv)
    if (options === 'help') {
      process.stdout.write(`${USAGE}\n`)
      return
    }
    if (options === 'version') {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
      process.stdout.write(`${pkg.version}\n`)
      return
    }
    resolveOptions(options.start)
    if (!fs.existsSync(options.script)) throw new YappiError(`no such script: ${options.script}`)
    // Before start(): the report at exit must run before the profiler thread detaches at exit.
    let started = false
    installReport(options, () => started)
    startAsTool(options.start)
    started = true
  } catch (error) {
    process.stderr.write(`yappi-node: ${(error as Error).message}\nTry 'yappi-node --help'.\n`)
    process.exitCode = 2
    return
  }
  // Run the script as Node's main module: require.main, ESM and CommonJS alike.
  process.argv = [process.argv[0], options.script, ...options.args]
  ;(Module as unknown as { runMain(): void }).runMain()
}

main(process.argv.slice(2))
