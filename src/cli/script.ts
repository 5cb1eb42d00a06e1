// `yappi-node [options] script [args]`: profiles a script (and its workers) from its first
// line, prints the stats table when it ends (naturally, by process.exit, or on SIGINT/SIGTERM)
// and writes the stats to a file when asked.
import * as fs from 'node:fs'
import Module from 'node:module'
import * as path from 'node:path'

import { YappiError } from '../errors'
import { getFuncStats, getThreadStats, snapshot, startAsTool, stopAsTool } from '../api'
import { resolveOptions } from '../options'
import { SAVE_FORMATS } from '../saved'
import { parseFlags, printReport, type ReportOptions } from './options'

const USAGE = `Usage: yappi-node [options] <script> [script arguments]
       yappi-node attach|top <pid> [options]   (a running process: yappi-node attach --help)

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

interface CliOptions extends ReportOptions {
  script: string
  args: string[]
}

/** Options up to the script; everything after the script is the script's own. */
function parseCli(argv: string[]): CliOptions | 'help' | 'version' {
  const parsed = parseFlags(argv, 0)
  if (typeof parsed === 'string') return parsed
  const script = argv[parsed.at]
  if (script === undefined) throw new YappiError('no script to profile')
  return { ...parsed.options, script: path.resolve(script), args: argv.slice(parsed.at + 1) }
}

/** Reports when the script ends; `started()` says whether profiling began (else there is nothing to report). */
function installReport(options: CliOptions, started: () => boolean): void {
  let reported = false
  const finish = (): void => {
    if (reported || !started()) return
    reported = true
    try {
      stopAsTool()
      printReport(getFuncStats(), getThreadStats(), options)
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

/** `yappi-node [options] script [args]`. */
export function runScript(argv: string[], version: () => string): void {
  let options: ReturnType<typeof parseCli>
  try {
    options = parseCli(argv)
    if (options === 'help') {
      process.stdout.write(`${USAGE}\n`)
      return
    }
    if (options === 'version') {
      process.stdout.write(`${version()}\n`)
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

