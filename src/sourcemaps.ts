import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs'
import type { Profiler } from 'node:inspector'
import * as path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

import { recordFault } from './faults'
import { native } from './native'
import { OWN_CODE_PREFIXES } from './thread'

/** Scripts looked at once, mapped or not; past this many new ones are no longer looked at. */
const MAX_SCRIPTS = 100_000
/** The comment is on the last line; this much of a file's end holds it unless it is inline. */
const TAIL_BYTES = 4096
const COMMENT = /\/\/[#@][ \t]+sourceMappingURL=[ \t]*(\S+)[ \t]*$/

const seen = new Set<string>()

/**
 * Registers the source map of every script in `profile` not seen before, so the engine folds
 * its frames under their original names, files and lines. Runs before the profile is folded;
 * a script costs one read of its end (of the whole file for an inline map), once per process.
 */
export function registerSourceMaps(profile: Profiler.Profile): void {
  for (const { callFrame } of profile.nodes) registerScript(callFrame.url)
}

const URL_FIELD = '"url":"'

/**
 * The same for a profile a worker sent as an inspector message, which only the engine parses:
 * its script URLs are found by scanning the JSON text for `"url":"` (V8 writes no spaces, and
 * the quotes of that pattern inside a string value would be escaped).
 */
export function registerSourceMapsOfMessage(message: string): void {
  let at = message.indexOf(URL_FIELD)
  while (at >= 0) {
    const start = at + URL_FIELD.length
    const end = message.indexOf('"', start)
    if (end < 0) return
    const url = message.slice(start, end)
    // An escape means a URL that is no plain file path; such scripts are left unmapped.
    if (!url.includes('\\')) registerScript(url)
    at = message.indexOf(URL_FIELD, end)
  }
}

function registerScript(url: string): void {
  if (seen.has(url) || seen.size >= MAX_SCRIPTS) return
  seen.add(url)
  const file = scriptPath(url)
  if (file === undefined) return
  try {
    registerFile(url, file)
  } catch (error) {
    recordFault('sourcemap', new Error(`${file}: ${(error as Error).message}`))
  }
}

/** The file behind a script URL; undefined for builtins, eval'd code and the profiler's own. */
function scriptPath(url: string): string | undefined {
  if (OWN_CODE_PREFIXES.some((prefix) => url.startsWith(prefix))) return undefined
  if (url.startsWith('file://')) return fileURLToPath(url)
  return path.isAbsolute(url) ? url : undefined
}

function registerFile(url: string, file: string): void {
  const reference = mapReference(file)
  if (reference === undefined) return
  const script = pathToFileURL(file)
  let json: string
  // Relative sources resolve against the map's own location (the script's for an inline map).
  // It goes to the engine as a URL: Windows paths lack the forward slashes it resolves with.
  let base: URL
  if (reference.startsWith('data:')) {
    json = decodeDataUrl(reference)
    base = script
  } else {
    base = new URL(reference, script)
    if (base.protocol !== 'file:') throw new Error(`source map ${base.href} is not a file`)
    json = readFileSync(base, 'utf8')
  }
  const refused = native.registerSourceMap(url, json, base.href)
  if (refused !== null) throw new Error(refused)
}

/** The `sourceMappingURL` of a script's last line, reading the whole file only if it is that long. */
function mapReference(file: string): string | undefined {
  let tail: string
  let complete: boolean
  let fd: number
  try {
    fd = openSync(file, 'r')
  } catch (error) {
    // Scripts that no longer exist (or never did, like a loader's virtual modules) have no map.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
  try {
    const size = fstatSync(fd).size
    const length = Math.min(size, TAIL_BYTES)
    const buffer = Buffer.alloc(length)
    readSync(fd, buffer, 0, length, size - length)
    tail = buffer.toString('utf8').trimEnd()
    complete = length === size
  } finally {
    closeSync(fd)
  }
  if (!complete && !tail.includes('\n')) tail = readFileSync(file, 'utf8').trimEnd()
  const lastLine = tail.slice(tail.lastIndexOf('\n') + 1)
  return COMMENT.exec(lastLine)?.[1]
}

function decodeDataUrl(reference: string): string {
  const comma = reference.indexOf(',')
  if (comma < 0) throw new Error('inline source map has no data')
  const header = reference.slice(5, comma)
  const data = reference.slice(comma + 1)
  if (!header.startsWith('application/json')) throw new Error(`inline source map of type '${header}' is not JSON`)
  return header.split(';').includes('base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data)
}
