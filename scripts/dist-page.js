// The HTTP endpoint's live page, as it is served: our files from src/http/page, and
// speedscope's release build (its flame graph) from the speedscope npm package, copied into
// dist/page so that the published package carries them and the page needs no network.
'use strict'
const { cpSync, mkdirSync, rmSync } = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const out = path.join(root, 'dist', 'page')
const speedscope = path.dirname(require.resolve('speedscope/package.json'))

rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
cpSync(path.join(root, 'src', 'http', 'page'), out, { recursive: true })
cpSync(path.join(speedscope, 'dist', 'release'), path.join(out, 'speedscope'), { recursive: true })
cpSync(path.join(speedscope, 'LICENSE'), path.join(out, 'speedscope', 'LICENSE'))
