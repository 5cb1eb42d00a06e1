import { execFileSync } from 'node:child_process'
import * as os from 'node:os'

/**
 * RESULTS.md holds the main report (overhead, engine) and sections of the focused benches, each
 * between markers, so that `--only=<bench>` replaces its own section and leaves the rest alone.
 */
const begin = (name: string) => `<!-- bench:${name} -->`
const end = (name: string) => `<!-- /bench:${name} -->`

/** The sections of `doc`, by name, markers included. */
export function sectionsOf(doc: string): Map<string, string> {
  const found = new Map<string, string>()
  for (const match of doc.matchAll(/<!-- bench:([\w-]+) -->[\s\S]*?<!-- \/bench:\1 -->/g)) found.set(match[1], match[0])
  return found
}

/** `doc` with section `name` set to `body` (replaced where it was, else appended). */
export function withSection(doc: string, name: string, body: string): string {
  const block = `${begin(name)}\n${body.trimEnd()}\n${end(name)}`
  const old = sectionsOf(doc).get(name)
  return old === undefined ? `${doc.trimEnd()}\n\n${block}\n` : doc.replace(old, () => block)
}

/** `uptime`'s load averages now: every focused bench states it beside its numbers. */
export function loadAverage(): string {
  try {
    const out = execFileSync('uptime', { encoding: 'utf8' }).trim()
    const match = /load averages?:\s*(.*)$/.exec(out)
    if (match) return `${match[1]} (uptime)`
  } catch {
    // Not every system has uptime: os.loadavg() says the same.
  }
  return `${os.loadavg().map((v) => v.toFixed(2)).join(', ')} (os.loadavg)`
}
