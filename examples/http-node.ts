// yappi's endpoint mounted in an existing node:http server, under /yappi: the handler answers
// its own paths and hands every other request to the application (`next`).
// Run: npm run build:ts && node dist/examples/http-node.js, then open http://127.0.0.1:3000/yappi/
import * as http from 'node:http'

import * as yappi from '../index'

function app(req: http.IncomingMessage, res: http.ServerResponse): void {
  const body = JSON.stringify({ path: req.url, items: Array.from({ length: 200 }, (_, i) => i * i) })
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(body)
}

/** The application's server with yappi's endpoint under `/yappi`. */
export function createServer(options: yappi.HandlerOptions = {}): http.Server {
  const profiler = yappi.handler({ prefix: '/yappi', ...options })
  return http.createServer((req, res) => profiler(req, res, () => app(req, res)))
}

if (require.main === module) {
  yappi.start()
  createServer().listen(3000, '127.0.0.1', () => console.log('app on http://127.0.0.1:3000/, profiler on http://127.0.0.1:3000/yappi/'))
}
