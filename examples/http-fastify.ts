// yappi's endpoint in a Fastify application: a route for the prefix and everything under it,
// handing the raw request and response to the handler (`reply.hijack()` tells Fastify the
// reply is written elsewhere).
// Run: npm run build:ts && node dist/examples/http-fastify.js, then open http://127.0.0.1:3000/yappi/
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'

import * as yappi from '../index'

/** The application with yappi's endpoint under `/yappi`. */
export function createApp(options: yappi.HandlerOptions = {}): FastifyInstance {
  const app = Fastify({ logger: false })
  const profiler = yappi.handler({ prefix: '/yappi', ...options })
  const mount = (request: FastifyRequest, reply: FastifyReply) => {
    reply.hijack()
    profiler(request.raw, reply.raw)
  }
  app.all('/yappi', mount)
  app.all('/yappi/*', mount)
  app.get<{ Params: { id: string } }>('/items/:id', async (request) => ({ id: request.params.id, squares: Array.from({ length: 200 }, (_, i) => i * i) }))
  return app
}

if (require.main === module) {
  yappi.start()
  void createApp()
    .listen({ port: 3000, host: '127.0.0.1' })
    .then(() => console.log('app on http://127.0.0.1:3000/items/1, profiler on http://127.0.0.1:3000/yappi/'))
}
