import * as fs from 'node:fs'
import type { ServerResponse } from 'node:http'
import * as path from 'node:path'

import { HttpError, send } from './reply'

/**
 * The live page's files: ours (`src/http/page/`) and speedscope's release build, which
 * `scripts/dist-page.js` copies from the speedscope npm package into `<package>/dist/page` at
 * build time, so the page needs no network but this server and the user no build step.
 */
const PAGE_DIR = path.resolve(__dirname, '..', '..', 'page')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
}

/**
 * Our page runs no inline code and loads nothing from elsewhere, so an application's function
 * name that slipped into markup could not run. speedscope injects its styles at run time and
 * compiles a WebAssembly module (its Java Flight Recorder reader) when it starts.
 */
const OUR_POLICY = "default-src 'self'; img-src 'self' data:; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
const SPEEDSCOPE_POLICY = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"

interface PageFile {
  data: Buffer
  type: string
}

let files: Map<string, PageFile> | undefined

/** Every file under the page folder by its relative path; only these are ever served. */
function pageFiles(): Map<string, PageFile> {
  if (files) return files
  const found = new Map<string, PageFile>()
  const walk = (dir: string, prefix: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const name = `${prefix}${entry.name}`
      if (entry.isDirectory()) walk(path.join(dir, entry.name), `${name}/`)
      else found.set(name, { data: fs.readFileSync(path.join(dir, entry.name)), type: TYPES[path.extname(entry.name)] ?? 'application/octet-stream' })
    }
  }
  try {
    walk(PAGE_DIR, '')
  } catch (error) {
    throw new HttpError(500, `the page's files are missing from ${PAGE_DIR} (${(error as Error).message}); reinstall yappi-node`)
  }
  files = found
  return found
}

/** Sends the page file at `name` (`index.html` for the root); 404 for anything else. */
export function servePage(name: string, res: ServerResponse): void {
  const file = pageFiles().get(name)
  if (!file) throw new HttpError(404, `no page file ${JSON.stringify(name)}`)
  const policy = name.startsWith('speedscope/') ? SPEEDSCOPE_POLICY : OUR_POLICY
  send(res, 200, file.data, { 'content-type': file.type, 'content-security-policy': policy, 'x-frame-options': 'SAMEORIGIN' })
}
