import type { ServerResponse } from 'node:http'

import { clearStats, getFuncStatsAway, getTagStats, getThreadStats, isRunning, start, stop } from '../api'
import { YappiError } from '../errors'
import { getFaults } from '../faults'
import { getMemUsage } from '../memory'
import { DEFAULTS, resolveOptions } from '../options'
import { getOverhead } from '../overhead'
import { refreshEverywhere } from '../sampling/local'
import { SAVE_FORMATS, exportBuffer, type SaveFormat } from '../saved'
import { resolveSort, type FuncStat } from '../stats'
import { getStalls } from '../stalls/stalls'
import { bad, type Params } from './params'
import { HttpError, sendDownload, sendJson, sendText } from './reply'

/** The numbers of a function row, without its call edges (those come from `function?id=`). */
function row(stat: FuncStat): Omit<FuncStat, 'callers' | 'callees'> {
  const { callers, callees, ...numbers } = stat
  return numbers
}

const STATS_LIMIT = { fallback: 200, max: 100_000 }

function selection(params: Params): { threadId: number[] | undefined; tag: string | undefined } {
  return { threadId: params.threads('thread'), tag: params.string('tag') }
}

function sortOf(params: Params): [string, string] {
  const key = params.string('sort') ?? 'ttot'
  const order = params.string('order') ?? 'desc'
  for (const [name, check] of [
    ['sort', () => resolveSort(key, 'desc')],
    ['order', () => resolveSort('ttot', order)],
  ] as const) {
    try {
      check()
    } catch (error) {
      throw bad(name, (error as Error).message)
    }
  }
  return [key, order]
}

async function serveStats(params: Params, res: ServerResponse): Promise<void> {
  params.only(['sort', 'order', 'limit', 'thread', 'tag', 'name', 'module', 'format'])
  const [key, order] = sortOf(params)
  const limit = params.whole('limit', 0, STATS_LIMIT.max, STATS_LIMIT.fallback)
  const format = params.oneOf('format', ['json', 'text'], 'json')
  const stats = (await getFuncStatsAway({ ...selection(params), name: params.string('name'), module: params.string('module') })).sort(key, order)
  if (format === 'text') return sendText(res, 200, stats.format({ limit }))
  sendJson(res, {
    clock: stats.clock,
    sortedBy: stats.sortedBy,
    partial: stats.partial,
    droppedSamples: stats.droppedSamples,
    count: stats.length,
    functions: stats.toArray().slice(0, limit).map(row),
  })
}

/** One function with its callers and callees: what the page shows when a row is clicked. */
async function serveFunction(params: Params, res: ServerResponse): Promise<void> {
  params.only(['id', 'thread', 'tag'])
  if (params.string('id') === undefined) throw bad('id', 'is required: the id of a function row from stats')
  const id = params.whole('id', 0, 2 ** 32, 0)
  const stat = (await getFuncStatsAway(selection(params))).toArray().find((candidate) => candidate.id === id)
  if (!stat) throw new HttpError(404, `no function with id ${id} in these stats (ids last until the stats are cleared)`)
  sendJson(res, { ...row(stat), callers: stat.callers, callees: stat.callees })
}

function serveThreads(params: Params, res: ServerResponse): void {
  params.only(['format'])
  const threads = getThreadStats()
  if (params.oneOf('format', ['json', 'text'], 'json') === 'text') return sendText(res, 200, threads.format())
  sendJson(res, { clock: threads.clock, threads: threads.toArray() })
}

const DOWNLOAD: Record<SaveFormat, { file: string; type: string }> = {
  pprof: { file: 'profile.pb.gz', type: 'application/octet-stream' },
  callgrind: { file: 'callgrind.out.yappi', type: 'text/plain; charset=utf-8' },
  cpuprofile: { file: 'profile.cpuprofile', type: 'application/json' },
  speedscope: { file: 'profile.speedscope.json', type: 'application/json' },
  collapsed: { file: 'profile.collapsed', type: 'text/plain; charset=utf-8' },
  json: { file: 'stats.json', type: 'application/json' },
}

async function serveExport(format: string, params: Params, res: ServerResponse): Promise<void> {
  if (!(SAVE_FORMATS as readonly string[]).includes(format)) {
    throw new HttpError(404, `no export format ${JSON.stringify(format)}; formats: ${SAVE_FORMATS.join(', ')}`)
  }
  params.only(['thread'])
  const threads = params.threads('thread')
  await refreshEverywhere()
  let data: Buffer
  try {
    data = exportBuffer({ scope: 'global', threads }, format)
  } catch (error) {
    if (error instanceof YappiError && format === 'cpuprofile') throw bad('thread', error.message)
    throw error
  }
  const download = DOWNLOAD[format as SaveFormat]
  const file = format === 'cpuprofile' && threads ? `profile.thread-${threads[0]}.cpuprofile` : download.file
  sendDownload(res, data, file, download.type)
}

/** Stalls with the filters of `getStalls()`: `thread`, `minMs` (minimum duration), `since` (epoch ms). */
function serveStalls(params: Params, res: ServerResponse): void {
  params.only(['thread', 'minMs', 'since', 'format'])
  const format = params.oneOf('format', ['json', 'text'], 'json')
  const minDurationMs = params.whole('minMs', 0, 3_600_000, 0)
  const since = params.string('since') === undefined ? undefined : params.whole('since', 0, Number.MAX_SAFE_INTEGER, 0)
  const stalls = getStalls({ threadId: params.threads('thread'), minDurationMs, since })
  if (format === 'text') return sendText(res, 200, stalls.length === 0 ? 'no stalls\n' : stalls.map((stall) => stall.format()).join('\n'))
  sendJson(res, { dropped: stalls.dropped, count: stalls.length, stalls })
}

/** One stall's own profile (its flame graph) in an export format: `api/stall/<format>?id=`. */
function serveStallExport(format: string, params: Params, res: ServerResponse): void {
  if (!(SAVE_FORMATS as readonly string[]).includes(format)) {
    throw new HttpError(404, `no export format ${JSON.stringify(format)}; formats: ${SAVE_FORMATS.join(', ')}`)
  }
  params.only(['id'])
  if (params.string('id') === undefined) throw bad('id', 'is required: the id of a stall from api/stalls')
  const id = params.whole('id', 1, Number.MAX_SAFE_INTEGER, 1)
  const stall = getStalls().find((candidate) => candidate.id === id)
  if (!stall) throw new HttpError(404, `no stall with id ${id} (the ring holds the newest; clearing the stats clears them)`)
  const download = DOWNLOAD[format as SaveFormat]
  sendDownload(res, stall.toBuffer(format as SaveFormat), `stall-${id}.${download.file.replace(/^[^.]*\./, '')}`, download.type)
}

/** `start` options from query parameters, typed as `start()` takes them; `start()` checks the rest. */
function startOptions(params: Params): Record<string, unknown> {
  const names = Object.keys(DEFAULTS)
  params.only(names)
  const options: Record<string, unknown> = {}
  for (const name of names) {
    const text = params.string(name)
    if (text === undefined) continue
    const value = typeof DEFAULTS[name as keyof typeof DEFAULTS]
    options[name] = value === 'number' ? (/^\d+$/.test(text) ? Number(text) : text) : value === 'boolean' ? params.boolean(name) : text
  }
  try {
    resolveOptions(options)
  } catch (error) {
    throw new HttpError(400, `parameter ${(error as Error).message}`)
  }
  return options
}

function control(action: string, params: Params, res: ServerResponse): void {
  if (action === 'start') {
    const options = startOptions(params)
    try {
      start(options)
    } catch (error) {
      throw new HttpError(409, (error as Error).message)
    }
    return sendJson(res, { running: isRunning() })
  }
  params.only([])
  if (action === 'stop') return sendJson(res, { stopped: stop(), running: isRunning() })
  clearStats()
  sendJson(res, { cleared: true, running: isRunning() })
}

export const CONTROL_ACTIONS = ['start', 'stop', 'clear']

/** Answers `api/<route>`; control actions arrive here already checked (POST, token). */
export async function serveApi(route: string, params: Params, res: ServerResponse): Promise<void> {
  if (CONTROL_ACTIONS.includes(route)) return control(route, params, res)
  if (route.startsWith('export/')) return serveExport(route.slice('export/'.length), params, res)
  if (route.startsWith('stall/')) return serveStallExport(route.slice('stall/'.length), params, res)
  switch (route) {
    case 'stats':
      return serveStats(params, res)
    case 'function':
      return serveFunction(params, res)
    case 'threads':
      return serveThreads(params, res)
    case 'stalls':
      return serveStalls(params, res)
    case 'tags':
      params.only(['thread'])
      return sendJson(res, { tags: getTagStats({ threadId: params.threads('thread') }) })
    case 'memory':
      params.only([])
      return sendJson(res, getMemUsage())
    case 'overhead':
      params.only([])
      return sendJson(res, getOverhead())
    case 'faults':
      params.only([])
      return sendJson(res, getFaults())
    case 'status':
      params.only([])
      return sendJson(res, { running: isRunning(), clock: getThreadStats().clock, pid: process.pid, node: process.version })
    default:
      throw new HttpError(404, `no path api/${route}; paths: api/stats, api/function, api/threads, api/stalls, api/stall/<format>, api/tags, api/memory, api/overhead, api/faults, api/status, api/export/<format>, and POST api/start, api/stop, api/clear`)
  }
}
