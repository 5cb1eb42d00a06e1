import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'

import { YappiError } from '../errors'
import { recordFault } from '../faults'
import { isLoopback, resolveHandlerOptions, type HandlerOptions, type ResolvedHandlerOptions } from './options'
import { servePage } from './page'
import { Params } from './params'
import { servePprof } from './pprof'
import { HttpError, send, sendError } from './reply'
import { CONTROL_ACTIONS, serveApi } from './routes'
import { ProfileWindows } from './window'

/**
 * A request handler for node:http, Express (`app.use`) or Fastify (a hijacked route): it answers
 * the paths under its prefix and passes any other request to `next` (a 404 without one). It
 * never throws and never rejects.
 */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void

/** A handler with the means to end its open profile windows (for `serve()`'s close). */
export interface Endpoint {
  handle: RequestHandler
  windows: ProfileWindows
}

const digest = (text: string) => createHash('sha256').update(text).digest()

function tokenGiven(req: IncomingMessage, params: URLSearchParams): string | undefined {
  const header = req.headers.authorization
  if (header?.startsWith('Bearer ')) return header.slice('Bearer '.length).trim()
  return params.get('token') ?? undefined
}

/** The path and query of a request target; only its path is read, so `//host/x` stays a path. */
function parseUrl(target: string | undefined): URL | undefined {
  if (!target?.startsWith('/')) return undefined
  try {
    return new URL(`http://localhost${target}`)
  } catch {
    return undefined
  }
}

/** Where a request goes once its prefix is taken off. */
type Route =
  | { kind: 'redirect'; to: string }
  | { kind: 'page'; file: string }
  | { kind: 'pprof'; route: string }
  | { kind: 'api'; route: string }
  | { kind: 'elsewhere' }

function routeOf(rest: string, original: URL): Route {
  const slashed = `${original.pathname}/${original.search}`
  // The page's links are relative, so its root must end in '/' as the browser sees it.
  if (rest === '' || rest === '/debug/pprof' || (rest === '/' && !original.pathname.endsWith('/'))) return { kind: 'redirect', to: slashed }
  if (rest === '/') return { kind: 'page', file: 'index.html' }
  if (rest.startsWith('/assets/')) return { kind: 'page', file: rest.slice('/assets/'.length) }
  if (rest.startsWith('/debug/pprof/')) return { kind: 'pprof', route: rest.slice('/debug/pprof/'.length) }
  if (rest.startsWith('/api/')) return { kind: 'api', route: rest.slice('/api/'.length) }
  return { kind: 'elsewhere' }
}

class Dispatcher {
  readonly windows = new ProfileWindows()
  readonly #options: ResolvedHandlerOptions
  readonly #token: Buffer | undefined

  constructor(options: ResolvedHandlerOptions) {
    this.#options = options
    this.#token = options.token === undefined ? undefined : digest(options.token)
  }

  /** Checks who may do what: the page's own files are public, data needs the token when one is set, control always. */
  #authorize(req: IncomingMessage, route: Route, search: URLSearchParams): void {
    if (this.#options.loopbackHostsOnly) {
      const host = (req.headers.host ?? '').replace(/:\d+$/, '')
      // A page elsewhere could point its own host name at 127.0.0.1 (DNS rebinding) and read us.
      if (!isLoopback(host)) throw new HttpError(403, `the Host ${JSON.stringify(host)} is not this machine's; without a token only localhost, 127.0.0.1 and [::1] are answered`)
    }
    const control = route.kind === 'api' && CONTROL_ACTIONS.includes(route.route)
    const method = req.method ?? 'GET'
    if (control && method !== 'POST') throw new HttpError(405, `${route.route} changes the profiler: use POST`, { allow: 'POST' })
    if (!control && method !== 'GET' && method !== 'HEAD') throw new HttpError(405, `use GET, not ${method}`, { allow: 'GET, HEAD' })
    if (route.kind === 'page' || route.kind === 'redirect') return
    if (control && this.#token === undefined) {
      throw new HttpError(403, `${route.route} needs a token, and this endpoint has none: pass serve({ token }) or handler({ token })`)
    }
    if (this.#token === undefined) return
    const given = tokenGiven(req, search)
    if (given === undefined || !timingSafeEqual(digest(given), this.#token)) {
      throw new HttpError(401, 'a token is required: send Authorization: Bearer <token>, or ?token=<token>', { 'www-authenticate': 'Bearer realm="yappi-node"' })
    }
  }

  async handle(req: IncomingMessage, res: ServerResponse, next: ((error?: unknown) => void) | undefined): Promise<void> {
    const url = parseUrl(req.url)
    const original = parseUrl((req as { originalUrl?: string }).originalUrl ?? req.url)
    if (!url || !original) return sendError(res, new HttpError(400, 'the request target is not a valid URL path'))
    const prefix = this.#options.prefix
    const underPrefix = url.pathname === prefix || url.pathname.startsWith(`${prefix}/`)
    const route = underPrefix ? routeOf(url.pathname.slice(prefix.length), original) : { kind: 'elsewhere' as const }
    if (route.kind === 'elsewhere') {
      if (next && (prefix === '' || !underPrefix)) return next()
      return sendError(res, new HttpError(404, `no path ${url.pathname}; the page is at ${prefix}/, pprof at ${prefix}/debug/pprof/, the API under ${prefix}/api/`))
    }
    const clientGone = new AbortController()
    res.once('close', () => clientGone.abort(new Error('the client went away')))
    try {
      this.#authorize(req, route, url.searchParams)
      const params = new Params(url.searchParams)
      switch (route.kind) {
        case 'redirect':
          return send(res, 301, '', { location: route.to })
        case 'page':
          return servePage(route.file, res)
        case 'pprof':
          return await servePprof(route.route, params, res, { windows: this.windows, maxSeconds: this.#options.maxSeconds, signal: clientGone.signal })
        case 'api':
          return await serveApi(route.route, params, res)
      }
    } catch (error) {
      if (clientGone.signal.aborted) return
      if (error instanceof HttpError) return sendError(res, error)
      if (error instanceof YappiError) return sendError(res, new HttpError(400, error.message))
      recordFault('http', error)
      sendError(res, new HttpError(500, `internal error: ${error instanceof Error ? error.message : String(error)}`))
    }
  }
}

/** {@link handler}, with the windows exposed for `serve()`. */
export function endpoint(options: ResolvedHandlerOptions): Endpoint {
  const dispatcher = new Dispatcher(options)
  const handle: RequestHandler = (req, res, next) => {
    try {
      dispatcher.handle(req, res, next).catch((error: unknown) => recordFault('http', error))
    } catch (error) {
      recordFault('http', error)
    }
  }
  return { handle, windows: dispatcher.windows }
}

/**
 * A request handler serving the live page, Go's pprof paths and yappi's API under
 * `options.prefix`, to mount in your own server: `http.createServer(handler())`,
 * `app.use('/yappi', handler({ token }))` (Express), or a hijacked Fastify route (see the
 * README, "HTTP endpoint"). Other requests go to `next`.
 * @throws {@link YappiError} if an option is wrong.
 */
export function handler(options?: HandlerOptions): RequestHandler {
  return endpoint(resolveHandlerOptions(options)).handle
}
