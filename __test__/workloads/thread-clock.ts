import * as fs from 'node:fs'

/** The calling thread's CPU time in seconds, from its own clock. */
export function ownCpuSeconds(): number {
  const usage = (process as unknown as { threadCpuUsage?: () => { user: number; system: number } }).threadCpuUsage
  if (usage) {
    const { user, system } = usage.call(process)
    return (user + system) / 1e6
  }
  const schedstat = fs.readFileSync('/proc/thread-self/schedstat', 'latin1')
  return Number(schedstat.slice(0, schedstat.indexOf(' '))) / 1e9
}
