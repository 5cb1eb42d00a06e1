import * as fs from 'node:fs'

import { YappiError, describe } from '../errors'
import type { StartOptions } from '../options'
import { resolveFormat, type SaveFormat } from '../saved'
import { resolveSort, type FuncStats, type ThreadStats } from '../stats'

/** What every command that profiles takes: how to profile, what to print, where to write. */
export interface ReportOptions {
  start: StartOptions
  output?: string
  format?: SaveFormat
  sort: string
  limit: number
  quiet: boolean
}

export function numberArg(name: string, value: string | undefined): number {
  const parsed = Number(value)
  if (value === undefined || value.trim() === '' || !Number.isFinite(parsed)) {
    throw new YappiError(`${name} needs a number, not ${describe(value)}`)
  }
  return parsed
}

/**
 * Reads options from `argv[from]` up to the first argument that is not one (or `--`);
 * `extra` takes a command's own flags (returning false for a flag it does not know).
 * Returns the options and where the rest begins, or 'help'/'version'.
 */
export function parseFlags(
  argv: string[],
  from: number,
  extra: (flag: string, take: () => string) => boolean = () => false,
): { options: ReportOptions; at: number } | 'help' | 'version' {
  const options: ReportOptions = { start: {}, sort: 'ttot', limit: 30, quiet: false }
  const { start } = options
  let at = from
  for (; at < argv.length; at++) {
    const arg = argv[at]
    if (arg === '--') {
      at++
      break
    }
    if (!arg.startsWith('-') || arg === '-') break
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined]
    const take = () => {
      if (inline !== undefined) return inline
      const next = argv[++at]
      if (next === undefined) throw new YappiError(`${flag} needs a value`)
      return next
    }
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
        options.output = take()
        break
      case '--format':
        options.format = resolveFormat(take())
        break
      case '--sort':
        options.sort = take()
        resolveSort(options.sort, 'desc')
        break
      case '--limit': {
        const limit = numberArg(flag, take())
        if (!Number.isInteger(limit) || limit < 0) throw new YappiError(`--limit needs a whole number >= 0, not ${limit}`)
        options.limit = limit
        break
      }
      case '--quiet':
        options.quiet = true
        break
      default:
        if (!extra(flag, take)) throw new YappiError(`unknown option ${describe(arg)}`)
    }
  }
  if (options.format && !options.output) throw new YappiError('--format needs -o <file>')
  if (options.output) options.format = resolveFormat(options.format, options.output)
  return { options, at }
}

/** Prints the stats table and thread table (unless quiet) and writes the file asked for. */
export function printReport(stats: FuncStats, threads: ThreadStats, options: ReportOptions): void {
  if (!options.quiet) {
    const limit = options.limit === 0 ? undefined : options.limit
    fs.writeSync(process.stdout.fd, `\n${stats.sort(options.sort, 'desc').format({ limit })}\n${threads.format()}`)
  }
  if (options.output) {
    const written = stats.save(options.output, options.format)
    fs.writeSync(process.stderr.fd, `yappi-node: wrote ${written.join(', ')}\n`)
  }
}
