import { performance } from 'node:perf_hooks'

import { messageOf } from '../errors'
import { displayModule } from '../table'
import type { FuncStats } from '../stats'
import { TargetStats } from './loaded'
import type { Attachment } from './session'

/** A live view like py-spy top: functions by time over the last refresh and in total. */

const REFRESH_MS = 1000

interface Row {
  label: string
  selfLast: number
  totalLast: number
  selfAll: number
  totalAll: number
}

const SORTS = [
  { key: 'selfLast', title: 'self, last interval' },
  { key: 'totalLast', title: 'total, last interval' },
  { key: 'selfAll', title: 'self, since attached' },
  { key: 'totalAll', title: 'total, since attached' },
] as const

/** One view's rows: `now` against the read before, by function (yappi's key: module, line, name). */
export function topRows(now: FuncStats, before: FuncStats | undefined): Row[] {
  const earlier = new Map<string, { tsub: number; ttot: number }>()
  for (const stat of before ?? []) earlier.set(stat.fullName, { tsub: stat.tsub, ttot: stat.ttot })
  const rows: Row[] = []
  for (const stat of now) {
    const then = earlier.get(stat.fullName)
    const where = stat.module ? ` (${displayModule(stat.module)}:${stat.line})` : ''
    rows.push({
      label: `${stat.name}${where}`,
      selfLast: Math.max(0, stat.tsub - (then?.tsub ?? 0)),
      totalLast: Math.max(0, stat.ttot - (then?.ttot ?? 0)),
      selfAll: stat.tsub,
      totalAll: stat.ttot,
    })
  }
  return rows
}

interface View {
  sort: number
  /** Index into the thread list; -1: all threads merged. */
  thread: number
}

function render(attachment: Attachment, view: View, now: TargetStats, before: TargetStats | undefined, intervalS: number, attachedS: number, size: { columns: number; rows: number }): string {
  const threads = now.threads().toArray()
  const thread = view.thread >= 0 ? threads[view.thread] : undefined
  const rows = topRows(now.funcs(thread?.id), before?.funcs(thread?.id))
  const sort = SORTS[view.sort]
  rows.sort((a, b) => b[sort.key] - a[sort.key] || a.label.localeCompare(b.label))
  const threadName = thread ? `${thread.name} (id ${thread.id})` : `all ${threads.length} merged`
  const lines = [
    `yappi-node top  process ${attachment.target.pid}  Node ${attachment.begun.nodeVersion}  attached ${attachedS.toFixed(0)} s  interval ${intervalS.toFixed(2)} s`,
    `thread: ${threadName}  sort: ${sort.title}`,
    `keys: 1-4 or s sort  t thread  q quit`,
    '',
    `${'%Self'.padStart(6)} ${'Self'.padStart(8)} ${'Total'.padStart(8)} ${'SelfAll'.padStart(9)} ${'TotalAll'.padStart(9)}  Function (file:line)`,
  ]
  const room = Math.max(1, size.rows - lines.length - 1)
  for (const row of rows.slice(0, room)) {
    const percent = intervalS > 0 ? (100 * row.selfLast) / intervalS : 0
    lines.push(
      `${percent.toFixed(1).padStart(6)} ${row.selfLast.toFixed(3).padStart(8)} ${row.totalLast.toFixed(3).padStart(8)} ${row.selfAll.toFixed(2).padStart(9)} ${row.totalAll.toFixed(2).padStart(9)}  ${row.label}`,
    )
  }
  return lines.map((line) => line.slice(0, size.columns)).join('\x1b[K\r\n')
}

/**
 * Runs the view until `q` (or Ctrl-C), or until the target exits. The terminal is restored
 * whatever happens; the caller detaches.
 */
export async function runTop(attachment: Attachment): Promise<'quit' | 'gone'> {
  const { stdin, stdout } = process
  const view: View = { sort: 0, thread: -1 }
  let now: TargetStats | undefined
  let before: TargetStats | undefined
  let intervalS = 0
  const attachedAt = performance.now()
  let wake = (): void => {}
  let done: 'quit' | 'gone' | undefined
  const size = () => ({ columns: stdout.columns || 100, rows: stdout.rows || 30 })
  const draw = () => {
    if (!now) return
    stdout.write(`\x1b[H${render(attachment, view, now, before, intervalS, (performance.now() - attachedAt) / 1000, size())}\x1b[J`)
  }
  const onKey = (data: Buffer) => {
    for (const key of data.toString('utf8')) {
      if (key === 'q' || key === '\x03') done = 'quit'
      else if (key === 's') view.sort = (view.sort + 1) % SORTS.length
      else if (key >= '1' && key <= String(SORTS.length)) view.sort = Number(key) - 1
      else if (key === 't' && now) view.thread = view.thread + 1 >= now.threads().toArray().length ? -1 : view.thread + 1
    }
    if (done) wake()
    else draw()
  }
  const onSignal = () => {
    done = 'quit'
    wake()
  }
  const raw = stdin.isTTY === true
  if (raw) stdin.setRawMode(true)
  stdin.on('data', onKey)
  stdin.resume()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGWINCH', draw)
  // The alternate screen, cursor hidden: the shell's screen comes back as it was.
  stdout.write('\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J')
  let readAt = performance.now()
  try {
    void attachment.closed.then(() => {
      done ??= 'gone'
      wake()
    })
    while (!done) {
      let json: string | undefined
      try {
        json = await attachment.call<string>('read()')
      } catch (error) {
        if (attachment.gone) break
        stdout.write(`\x1b[Hread failed: ${messageOf(error)}\x1b[K`)
      }
      if (json !== undefined) {
        const at = performance.now()
        before = now
        now = new TargetStats(json)
        intervalS = before ? (at - readAt) / 1000 : (at - attachedAt) / 1000
        readAt = at
        draw()
      }
      if (done) break
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, REFRESH_MS)
        wake = () => (clearTimeout(timer), resolve())
      })
    }
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    process.off('SIGWINCH', draw)
    stdin.off('data', onKey)
    if (raw) stdin.setRawMode(false)
    stdin.pause()
    stdout.write('\x1b[?25h\x1b[?1049l')
  }
  return done ?? 'gone'
}
