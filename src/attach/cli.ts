import * as fs from 'node:fs'
import { performance } from 'node:perf_hooks'

import { YappiError, messageOf } from '../errors'
import { resolveOptions } from '../options'
import { SAVE_FORMATS } from '../saved'
import { parseFlags, printReport, type ReportOptions } from '../cli/options'
import { TargetStats } from './loaded'
import { AttachError, inspectProcess, parsePid } from './process'
import { Attachment } from './session'
import { runTop } from './top'

const USAGE = `Usage: yappi-node attach <pid> [options]
       yappi-node top <pid> [options]

attach: profiles the running Node.js process <pid> (every thread) for --duration or until
Ctrl-C, then prints the stats table and thread table and writes the file asked for.
top: a live view, refreshed every second, of the functions with most time over the last
second and in total; keys: s sort, t thread, q quit.

The target's inspector is opened for the attachment (SIGUSR1; loopback only) and closed
again when we detach, unless it was open before. yappi-node is loaded into the target
unless it already has it; the profiler is stopped again when we detach.

Options:
  --duration <time>    how long attach profiles: 30s (default), 500ms, 2m, or seconds
  --clock wall|cpu     what times measure: elapsed time (default) or CPU time
  --interval <us>      sampling interval in microseconds (default 1000)
  --builtins           show Node internals and V8 natives as functions of their own
  --no-threads         profile the main thread only, not worker threads
  --counts exact       exact call counts from V8's precise coverage (slower)
  -o, --output <file>  attach: also write the stats to <file>
  --format <format>    format of <file>: ${SAVE_FORMATS.join(', ')}
  --sort <key>         attach: table order: ttot (default), tsub, tavg, ncall, name, ...
  --limit <n>          attach: rows in the table (default 30; 0 for all)
  --quiet              attach: print no table
  -h, --help           print this help

Exit status: 0 done; 1 the attachment failed (no such process, not a Node.js process,
not ours to signal, inspector port taken, Node too old, the target exited while attached:
then the partial result is still printed); 2 wrong arguments.`

/** How often attach reads the target's stats, so that a target that exits still leaves a result. */
const READ_EVERY_MS = 1000

export interface AttachOptions extends ReportOptions {
  pid: number
  durationMs: number
}

export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim())
  if (!match) throw new YappiError(`--duration needs a time such as 30s, 500ms or 2m, not ${JSON.stringify(text)}`)
  const ms = Number(match[1]) * (match[2] === 'ms' ? 1 : match[2] === 'm' ? 60_000 : 1000)
  if (!(ms > 0)) throw new YappiError(`--duration must be longer than 0, not ${JSON.stringify(text)}`)
  return ms
}

/** `<pid> [options]`; help may come first. */
function parseAttach(argv: string[]): AttachOptions | 'help' {
  if (argv[0] === '-h' || argv[0] === '--help') return 'help'
  if (argv[0] === undefined || argv[0].startsWith('-')) throw new AttachError('no PID to attach to (the PID comes first: attach <pid> [options])', 2)
  const pid = parsePid(argv[0])
  let durationMs = 30_000
  const parsed = parseFlags(argv, 1, (flag, take) => {
    if (flag !== '--duration') return false
    durationMs = parseDuration(take())
    return true
  })
  if (parsed === 'help' || parsed === 'version') return 'help'
  if (parsed.at < argv.length) throw new AttachError(`unexpected argument ${JSON.stringify(argv[parsed.at])}`, 2)
  resolveOptions(parsed.options.start)
  return { ...parsed.options, pid, durationMs }
}

function say(text: string): void {
  fs.writeSync(process.stderr.fd, `yappi-node: ${text}\n`)
}

/** Resolves on the first SIGINT or SIGTERM (Ctrl-C ends the profile early, cleanly). */
function interrupted(): { promise: Promise<void>; dispose(): void } {
  let resolve!: () => void
  const promise = new Promise<void>((r) => (resolve = r))
  const on = () => resolve()
  process.on('SIGINT', on)
  process.on('SIGTERM', on)
  return { promise, dispose: () => (process.off('SIGINT', on), process.off('SIGTERM', on)) }
}

const ms = (from: number | undefined, to: number | undefined) => (from === undefined || to === undefined ? 'n/a' : `${Math.round(to - from)} ms`)

function sayTimings(attachment: Attachment): void {
  const { signalledAt, openAt, attachedAt, detachStartedAt, closedAt } = attachment.timings
  if (attachment.wasOpen) say(`detached in ${ms(detachStartedAt, closedAt)}; the inspector was open before and stays open`)
  else {
    say(
      `detached in ${ms(detachStartedAt, closedAt)}; inspector open for ${ms(signalledAt, closedAt)} ` +
        `(it answered ${ms(signalledAt, openAt)} after the signal, profiling began ${ms(signalledAt, attachedAt)} after it), now closed`,
    )
  }
}

async function attachCommand(options: AttachOptions): Promise<number> {
  const target = inspectProcess(options.pid)
  const stop = interrupted()
  let attachment: Attachment | undefined
  try {
    attachment = await Attachment.open(target, options.start)
    const { begun } = attachment
    say(
      `attached to process ${options.pid} (Node ${begun.nodeVersion}, inspector on 127.0.0.1:${attachment.port}${attachment.wasOpen ? ', already open' : ''})` +
        `${begun.joined ? '; joined the profiler already running there' : ''}` +
        `${begun.addsToEarlier ? "; the stats include the application's own from an earlier run" : ''}; profiling for ${options.durationMs / 1000} s, Ctrl-C to stop`,
    )
    const until = performance.now() + options.durationMs
    let last: string | undefined
    let ended: 'time' | 'interrupted' | 'gone' = 'time'
    stop.promise.then(() => (ended = 'interrupted'), () => undefined)
    attachment.closed.then(() => ended === 'time' && performance.now() < until && (ended = 'gone'), () => undefined)
    while (ended === 'time' && performance.now() < until) {
      const wait = Math.min(READ_EVERY_MS, until - performance.now())
      let timer: NodeJS.Timeout | undefined
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, wait))), stop.promise, attachment.closed])
      clearTimeout(timer)
      if (ended !== 'time' || performance.now() >= until) break
      last = (await attachment.call<string>('read()').catch(() => undefined)) ?? last
    }
    const final = await attachment.end().catch((error: unknown) => {
      say(`the final read failed (${messageOf(error)}): printing the last one`)
      return undefined
    })
    await attachment.detach()
    const json = final ?? last
    if (json === undefined) throw new AttachError(`process ${options.pid} exited before any stats were read`)
    const stats = new TargetStats(json)
    printReport(stats.funcs(), stats.threads(), options)
    sayTimings(attachment)
    if (final === undefined) {
      say(`process ${options.pid} exited while attached: the stats above are the partial result read last`)
      return 1
    }
    return 0
  } finally {
    stop.dispose()
    await attachment?.detach().catch((error: unknown) => say(`detaching failed: ${messageOf(error)}`))
  }
}

async function topCommand(options: AttachOptions): Promise<number> {
  const target = inspectProcess(options.pid)
  const attachment = await Attachment.open(target, options.start)
  try {
    const reason = await runTop(attachment)
    await attachment.end().catch(() => undefined)
    await attachment.detach()
    sayTimings(attachment)
    if (reason === 'gone') {
      say(`process ${options.pid} exited`)
      return 1
    }
    return 0
  } finally {
    await attachment.detach().catch((error: unknown) => say(`detaching failed: ${messageOf(error)}`))
  }
}

/** `yappi-node attach|top ...`; sets the exit status (see USAGE). */
export async function runAttach(command: 'attach' | 'top', argv: string[]): Promise<void> {
  let options: AttachOptions | 'help'
  try {
    options = parseAttach(argv)
  } catch (error) {
    say(`${messageOf(error)}\nTry 'yappi-node attach --help'.`)
    process.exitCode = 2
    return
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  try {
    process.exitCode = command === 'attach' ? await attachCommand(options) : await topCommand(options)
  } catch (error) {
    say(messageOf(error))
    process.exitCode = error instanceof AttachError ? error.exitCode : 1
  }
}
