import * as http from 'node:http'
import type { AddressInfo } from 'node:net'

import { YappiError } from '../errors'
import { recordFault } from '../faults'
import { endpoint } from './handler'
import { resolveServeOptions, type ServeOptions } from './options'

/** A running {@link serve} endpoint. */
export interface YappiServer {
  /** The port it listens on (the one the system picked for `port: 0`). */
  readonly port: number
  /** The address it is bound to. */
  readonly host: string
  /** The live page, e.g. `http://127.0.0.1:6060/`. */
  readonly url: string
  /** Stops listening, ends open connections and profile windows, and frees the port. Never rejects. */
  close(): Promise<void>
}

/** Slow clients hold a connection, never the profiler; these bound how long they hold it. */
const HEADERS_TIMEOUT_MS = 10_000
const REQUEST_TIMEOUT_MS = 15_000
const KEEP_ALIVE_TIMEOUT_MS = 5_000
const MAX_CONNECTIONS = 64

function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/**
 * Starts an HTTP server (node:http) with the live page at its root, Go's pprof paths under
 * `/debug/pprof/` and yappi's API under `/api/` (all under `options.prefix`). It binds
 * 127.0.0.1 unless told otherwise, and does not keep the process alive by itself.
 * @throws {@link YappiError} (as a rejection) if an option is wrong or the port cannot be bound.
 */
export async function serve(options?: ServeOptions): Promise<YappiServer> {
  const resolved = resolveServeOptions(options)
  const { handle, windows } = endpoint(resolved)
  const server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (req, res) =>
    handle(req, res),
  )
  server.maxConnections = MAX_CONNECTIONS
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new YappiError(`cannot listen on ${urlHost(resolved.host)}:${resolved.port}: ${error.message}`)))
    server.listen(resolved.port, resolved.host, () => resolve())
  })
  server.removeAllListeners('error')
  server.on('error', (error) => recordFault('http server', error))
  server.unref()
  const address = server.address() as AddressInfo
  let closed: Promise<void> | undefined
  return {
    port: address.port,
    host: address.address,
    url: `http://${urlHost(address.address)}:${address.port}${resolved.prefix}/`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        windows.closeAll()
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closed
    },
  }
}
