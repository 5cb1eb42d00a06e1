// yappi's own HTTP endpoint beside an application: the live page, Go's pprof path for
// go tool pprof / Grafana Alloy / Parca, and the stats API.
// Run: npm run build:ts && node dist/examples/http-serve.js, then open the URL it prints, or
//   go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=5'
import * as yappi from '../index'

function render(rows: number): string {
  return JSON.stringify(Array.from({ length: rows }, (_, i) => ({ id: i, name: `row-${i}`, score: Math.sqrt(i) })))
}

function checksum(text: string): number {
  let hash = 0
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) | 0
  return hash
}

async function main(): Promise<void> {
  yappi.start()
  // Loopback, no token: only this machine can read it. For a scraper elsewhere:
  // yappi.serve({ host: '0.0.0.0', port: 6060, token: process.env.YAPPI_TOKEN })
  const server = await yappi.serve({ port: 6060 })
  console.log(`yappi-node: ${server.url} (Ctrl-C to stop)`)
  // The application: work in short event-loop turns, so the endpoint answers between them.
  const timer = setInterval(() => checksum(render(5_000)), 20)
  process.once('SIGINT', () => {
    clearInterval(timer)
    void server.close().then(() => yappi.stop())
  })
}

if (require.main === module) void main()
