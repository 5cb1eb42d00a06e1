import type { ServerResponse } from 'node:http'

import type { Params } from './params'
import { HttpError, send, sendDownload, sendText } from './reply'
import type { ProfileWindows } from './window'
import { windowTable } from './window'

/** Go's default window when `seconds` is not given (net/http/pprof), within our bound. */
const GO_DEFAULT_SECONDS = 30

/** Profiles Go's net/http/pprof serves that a Node process has no counterpart of here. */
const GO_ONLY = ['allocs', 'block', 'cmdline', 'goroutine', 'heap', 'mutex', 'symbol', 'threadcreate', 'trace']

export interface PprofContext {
  windows: ProfileWindows
  maxSeconds: number
  /** Aborted when the client goes away. */
  signal: AbortSignal
}

/** Answers `/debug/pprof/<route>`: the index, the profile window, or a 404 that says what we serve. */
export async function servePprof(route: string, params: Params, res: ServerResponse, context: PprofContext): Promise<void> {
  if (route === '') return sendIndex(res, context.maxSeconds)
  if (route !== 'profile') throw notServed(route)
  // Go's handler ignores parameters it does not know, and scrapers may add their own: so do we.
  const seconds = params.whole('seconds', 1, context.maxSeconds, Math.min(GO_DEFAULT_SECONDS, context.maxSeconds))
  const debug = params.oneOf('debug', ['0', '1'], '0')
  const window = await context.windows.record(seconds, debug === '1' ? 'json' : 'pprof', context.signal)
  if (debug === '1') sendText(res, 200, windowTable(window, seconds))
  else sendDownload(res, window, 'profile', 'application/octet-stream')
}

function notServed(route: string): HttpError {
  const what = GO_ONLY.includes(route) ? `Go's ${route} profile has no counterpart in a Node.js process` : `there is no profile ${JSON.stringify(route)}`
  return new HttpError(
    404,
    `${what}. yappi-node serves /debug/pprof/profile?seconds=N (what every profiled thread sampled during the next N seconds) and the index /debug/pprof/; scrapers should enable only that profile (see the README, "Scraping")`,
  )
}

function sendIndex(res: ServerResponse, maxSeconds: number): void {
  const rows = GO_ONLY.map((name) => `<tr><td>${name}</td><td>not served: Go's own (404)</td></tr>`).join('\n')
  const html = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>/debug/pprof/</title></head>
<body>
<h1>/debug/pprof/</h1>
<p>Served by yappi-node for this Node.js process.</p>
<table>
<tr><td><a href="profile?seconds=${Math.min(GO_DEFAULT_SECONDS, maxSeconds)}">profile</a></td>
<td>What every profiled thread sampled during the next <code>seconds</code> (1 to ${maxSeconds}, default ${Math.min(GO_DEFAULT_SECONDS, maxSeconds)}):
gzipped pprof, each sample labelled with its <code>thread</code>. <code>debug=1</code>: the same as text.</td></tr>
${rows}
</table>
<p><a href="../../">The live page</a></p>
</body></html>
`
  send(res, 200, html, { 'content-type': 'text/html; charset=utf-8' })
}
