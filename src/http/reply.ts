import type { ServerResponse } from 'node:http'

/** A request we refuse: the status and a message that names what is wrong. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** What every answer carries: never cached, never sniffed into another type. */
const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' }

/**
 * Sends a whole answer. A client that went away meanwhile is not an error: the answer is
 * dropped, and a write failure on its socket is swallowed rather than thrown at the
 * application.
 */
export function send(res: ServerResponse, status: number, body: string | Buffer, headers: Record<string, string | number>): void {
  if (res.headersSent || res.destroyed || res.writableEnded) return
  res.on('error', () => {})
  const data = typeof body === 'string' ? Buffer.from(body) : body
  res.writeHead(status, { ...COMMON_HEADERS, 'content-length': data.length, ...headers })
  res.end(data)
}

export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  send(res, status, text.endsWith('\n') ? text : `${text}\n`, { 'content-type': 'text/plain; charset=utf-8', ...headers })
}

export function sendJson(res: ServerResponse, value: unknown): void {
  send(res, 200, JSON.stringify(value), { 'content-type': 'application/json; charset=utf-8' })
}

/** A file to save: `name` is what the browser or `curl -OJ` names it. */
export function sendDownload(res: ServerResponse, data: Buffer, name: string, type: string): void {
  send(res, 200, data, { 'content-type': type, 'content-disposition': `attachment; filename="${name}"` })
}

export function sendError(res: ServerResponse, error: HttpError): void {
  sendText(res, error.status, `yappi-node: ${error.message}`, error.headers)
}
