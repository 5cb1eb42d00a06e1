// yappi's endpoint in an Express application: app.use() under a mount path, which Express
// strips, so the handler itself needs no prefix. Put it behind your own authentication, or
// give it a token (`handler({ token })`).
// Run: npm run build:ts && node dist/examples/http-express.js, then open http://127.0.0.1:3000/yappi/
import express from 'express'

import * as yappi from '../index'

/** The application with yappi's endpoint under `/yappi`. */
export function createApp(options: yappi.HandlerOptions = {}): express.Express {
  const app = express()
  app.use('/yappi', yappi.handler(options))
  app.get('/items/:id', (req, res) => {
    res.json({ id: req.params.id, squares: Array.from({ length: 200 }, (_, i) => i * i) })
  })
  return app
}

if (require.main === module) {
  yappi.start()
  createApp().listen(3000, '127.0.0.1', () => console.log('app on http://127.0.0.1:3000/items/1, profiler on http://127.0.0.1:3000/yappi/'))
}
