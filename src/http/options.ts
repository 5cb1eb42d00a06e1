import { isIP } from 'node:net'

import { YappiError, describe } from '../errors'

/** Options of {@link handler}: where the endpoint lives in your server and who may use it. */
export interface HandlerOptions {
  /**
   * A secret of at least 16 characters. When set, every request but the page's own files
   * must carry it: `Authorization: Bearer <token>` (scrapers) or `?token=<token>` (the page,
   * `go tool pprof`). Control (start, stop, clear) always needs it: without a token it is off.
   */
  token?: string
  /**
   * The path the endpoint is mounted under, e.g. `'/yappi'`: the page is then `/yappi/` and
   * pprof's `/yappi/debug/pprof/profile`. Default `''` (the root). Leave it `''` when your
   * framework strips the mount path itself (Express's `app.use('/yappi', handler())`).
   */
  prefix?: string
  /** The longest `/debug/pprof/profile?seconds=N` window served, 1 to 3600. Default 300. */
  maxSeconds?: number
}

/** Options of {@link serve}: {@link HandlerOptions} and where to listen. */
export interface ServeOptions extends HandlerOptions {
  /** TCP port; default 0 (the system picks one: read it from the returned server). */
  port?: number
  /**
   * Address to bind. Default `'127.0.0.1'`: only this machine can connect. Any other address
   * (e.g. `'0.0.0.0'` for a scraper on another host) requires a `token`.
   */
  host?: string
}

export interface ResolvedHandlerOptions {
  token: string | undefined
  prefix: string
  maxSeconds: number
  /** Answer only requests whose `Host` names this machine (serve() on loopback without a token). */
  loopbackHostsOnly: boolean
}

export interface ResolvedServeOptions extends ResolvedHandlerOptions {
  port: number
  host: string
}

export const DEFAULT_MAX_SECONDS = 300
const MAX_SECONDS_LIMIT = 3600
const MIN_TOKEN_LENGTH = 16
const HANDLER_KEYS = ['token', 'prefix', 'maxSeconds']
const SERVE_KEYS = [...HANDLER_KEYS, 'port', 'host']

function checkKeys(options: unknown, known: string[], what: string): Record<string, unknown> {
  if (options === undefined) return {}
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new YappiError(`${what} options must be an object, not ${describe(options)}`)
  }
  const unknown = Object.keys(options).find((key) => !known.includes(key))
  if (unknown !== undefined) throw new YappiError(`unknown option ${describe(unknown)}; options of ${what}: ${known.join(', ')}`)
  return options as Record<string, unknown>
}

function resolveToken(token: unknown): string | undefined {
  if (token === undefined) return undefined
  if (typeof token !== 'string' || token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new YappiError(
      `token must be a string of at least ${MIN_TOKEN_LENGTH} characters without spaces (e.g. crypto.randomBytes(24).toString('base64url')), not ${describe(typeof token === 'string' ? `${token.length} characters` : token)}`,
    )
  }
  return token
}

function resolvePrefix(prefix: unknown): string {
  if (prefix === undefined) return ''
  if (typeof prefix !== 'string' || !(prefix === '' || /^(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)+$/.test(prefix))) {
    throw new YappiError(`prefix must be '' or a path like '/yappi' (segments of URL path characters, no trailing '/'), not ${describe(prefix)}`)
  }
  return prefix
}

function resolveWhole(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new YappiError(`${name} must be a whole number from ${min} to ${max}, not ${describe(value)}`)
  }
  return value
}

/** Whether `host` is an address of this machine only. */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  return bare === 'localhost' || bare === '::1' || (isIP(bare) === 4 && bare.startsWith('127.'))
}

export function resolveHandlerOptions(options: unknown): ResolvedHandlerOptions {
  return handlerPart(checkKeys(options, HANDLER_KEYS, 'handler()'))
}

function handlerPart(given: Record<string, unknown>): ResolvedHandlerOptions {
  return {
    token: resolveToken(given.token),
    prefix: resolvePrefix(given.prefix),
    maxSeconds: resolveWhole('maxSeconds', given.maxSeconds, 1, MAX_SECONDS_LIMIT, DEFAULT_MAX_SECONDS),
    loopbackHostsOnly: false,
  }
}

export function resolveServeOptions(options: unknown): ResolvedServeOptions {
  const given = checkKeys(options, SERVE_KEYS, 'serve()')
  const resolved = handlerPart(given)
  const host = given.host === undefined ? '127.0.0.1' : given.host
  if (typeof host !== 'string' || host.length === 0 || /[\s/]/.test(host)) {
    throw new YappiError(`host must be an address or host name such as '127.0.0.1' or '0.0.0.0', not ${describe(host)}`)
  }
  if (!isLoopback(host) && resolved.token === undefined) {
    throw new YappiError(`host ${describe(host)} is not a loopback address: anyone who reaches it could read the profile, so pass a token too`)
  }
  return {
    ...resolved,
    port: resolveWhole('port', given.port, 0, 65535, 0),
    host,
    loopbackHostsOnly: resolved.token === undefined,
  }
}
