import * as fs from 'node:fs'
import * as path from 'node:path'

import { YappiError, describe, messageOf } from './errors'
import { readPlainObject, resolveThreads } from './input'
import { native } from './native'

/** The formats stats export to, each for the tools that open it. */
export type SaveFormat = 'pprof' | 'callgrind' | 'cpuprofile' | 'speedscope' | 'collapsed' | 'json'

export const SAVE_FORMATS: readonly SaveFormat[] = ['pprof', 'callgrind', 'cpuprofile', 'speedscope', 'collapsed', 'json']

/** Options of {@link FuncStats.toBuffer}. */
export interface ExportOptions {
  /** The one thread a `cpuprofile` holds, when the stats cover several. */
  threadId?: number
}

/**
 * Where a stats collection's data lives in the engine: the process's stats (`global`),
 * `profile()`'s, or a set loaded from files; and which threads it covers.
 */
export interface StatsSource {
  scope: string
  threads?: number[]
  /** Keeps a loaded scope alive while any collection reading it is reachable. */
  owner?: LoadedScope
}

/** One set of loaded stats in the engine, freed when no collection refers to it any more. */
export class LoadedScope {
  constructor(readonly scope: string) {
    freeWhenUnreachable.register(this, scope)
  }
}

const freeWhenUnreachable = new FinalizationRegistry<string>((scope) => native.dropStats(scope))

const BY_SUFFIX: [string, SaveFormat][] = [
  ['.pb.gz', 'pprof'],
  ['.pprof', 'pprof'],
  ['.pb', 'pprof'],
  ['.callgrind', 'callgrind'],
  ['.cpuprofile', 'cpuprofile'],
  ['.speedscope.json', 'speedscope'],
  ['.collapsed', 'collapsed'],
  ['.folded', 'collapsed'],
  ['.json', 'json'],
]

/** The format a file name implies (`callgrind.out.*` as valgrind names them), if any. */
export function formatOfPath(file: string): SaveFormat | undefined {
  const base = path.basename(file).toLowerCase()
  if (base.startsWith('callgrind.out')) return 'callgrind'
  return BY_SUFFIX.find(([suffix]) => base.endsWith(suffix))?.[1]
}

export function resolveFormat(format: unknown, file?: string): SaveFormat {
  if (format === undefined && file !== undefined) {
    const implied = formatOfPath(file)
    if (implied) return implied
    throw new YappiError(
      `cannot tell the format of ${describe(file)} from its name; pass one of ${SAVE_FORMATS.join(', ')} ` +
        `or name the file *.pb.gz, callgrind.out.*, *.cpuprofile, *.speedscope.json, *.collapsed or *.json`,
    )
  }
  if (typeof format === 'string' && (SAVE_FORMATS as readonly string[]).includes(format)) return format as SaveFormat
  throw new YappiError(`unknown format ${describe(format)}; formats: ${SAVE_FORMATS.join(', ')}`)
}

function checkPath(file: unknown): string {
  if (typeof file !== 'string' || file.length === 0) throw new YappiError(`a file path must be a non-empty string, not ${describe(file)}`)
  return file
}

export function exportBuffer(source: StatsSource, format: unknown, options?: ExportOptions): Buffer {
  const resolved = resolveFormat(format)
  let threads = source.threads
  const { threadId } = options === undefined ? {} : readPlainObject(options, { name: 'options', key: 'option', allowed: ['threadId'] })
  if (threadId !== undefined) {
    if (!Number.isSafeInteger(threadId) || (threadId as number) < 0) {
      throw new YappiError(`threadId must be a thread id (a whole number >= 0), not ${describe(threadId)}`)
    }
    const selected = resolveThreads(threadId) ?? []
    threads = source.threads ? selected.filter((id) => source.threads?.includes(id)) : selected
  }
  return native.exportStats(source.scope, threads, resolved)
}

/**
 * Writes the stats to `file`. A `cpuprofile` holds one thread: stats of several threads are
 * written one file per thread, `name.thread-<id>.cpuprofile`. Returns the paths written.
 */
export function saveTo(source: StatsSource, file: unknown, format: unknown, threadsOf: () => number[]): string[] {
  const target = checkPath(file)
  const resolved = resolveFormat(format, target)
  const writes: [string, Buffer][] = []
  const threads = resolved === 'cpuprofile' ? (source.threads ?? threadsOf()) : undefined
  if (threads && threads.length > 1) {
    const stem = target.endsWith('.cpuprofile') ? target.slice(0, -'.cpuprofile'.length) : target
    for (const id of threads) writes.push([`${stem}.thread-${id}.cpuprofile`, exportBuffer(source, resolved, { threadId: id })])
  } else {
    writes.push([target, exportBuffer(source, resolved)])
  }
  for (const [to, data] of writes) {
    try {
      fs.writeFileSync(to, data)
    } catch (error) {
      throw new YappiError(`cannot write ${describe(to)}: ${(error as Error).message}`)
    }
  }
  return writes.map(([to]) => to)
}

function readSaved(file: unknown): Buffer {
  const from = checkPath(file)
  try {
    return fs.readFileSync(from)
  } catch (error) {
    throw new YappiError(`cannot read ${describe(from)}: ${(error as Error).message}`)
  }
}

/** Adds a saved `json` file to a loaded scope, or to a new one; returns the source that holds it. */
export function absorbFile(file: unknown, into?: StatsSource): StatsSource {
  return absorb(readSaved(file), describe(file), into)
}

/** {@link absorbFile} for stats in yappi-node's `json` format already in memory; `what` names them in errors. */
export function absorb(data: Buffer, what: string, into?: StatsSource): StatsSource {
  try {
    if (into?.owner) {
      native.loadStats(data, into.scope)
      return into
    }
    const scope = native.loadStats(data)
    return { scope, owner: new LoadedScope(scope) }
  } catch (error) {
    throw new YappiError(`${what}: ${messageOf(error)}`, error instanceof YappiError ? error.code : undefined)
  }
}

/** A loaded copy of a live source, so that files can be added without touching live stats. */
export function detach(source: StatsSource): StatsSource {
  if (source.owner) return source
  const scope = native.loadStats(native.exportStats(source.scope, source.threads, 'json'))
  return { scope, owner: new LoadedScope(scope) }
}
