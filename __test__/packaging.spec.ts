import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

import test from 'ava'

const repoRoot = path.resolve(__dirname, '..', '..')
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { platformArchAbi } = require(path.join(repoRoot, 'scripts', 'platform.js')) as { platformArchAbi: () => string }

/** A PATH without any folder that holds cargo, with `fakeBin` first. */
function pathWithoutCargo(fakeBin: string): string {
  const cargo = process.platform === 'win32' ? 'cargo.exe' : 'cargo'
  const kept = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir && !existsSync(path.join(dir, cargo)))
  return [fakeBin, ...kept].join(path.delimiter)
}

// Code run by the installed package: a busy function it must find in the stats.
const WORKLOAD = `
function packagedBusy(ms) {
  const start = process.hrtime()
  for (;;) {
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}
`

const REPORT = `
const busy = getFuncStats().find('packagedBusy')
console.log(JSON.stringify({ samples: busy ? busy.samples : 0, ttot: busy ? busy.ttot : 0 }))
`

test('the packed packages install offline without Rust; require, import and types work', (t) => {
  t.timeout(180_000)
  const triple = platformArchAbi()
  t.true(existsSync(path.join(repoRoot, 'npm', triple)), `a platform package npm/${triple} exists for this machine`)
  const work = realpathSync(mkdtempSync(path.join(tmpdir(), 'yappi-packaging-')))
  const tarballDir = path.join(work, 'tarballs')
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'pack.js'), tarballDir], { stdio: 'pipe' })
  const tarballs = readdirSync(tarballDir).filter((name) => name.endsWith('.tgz'))
  t.deepEqual(tarballs.sort(), [`yappi-node-0.1.0.tgz`, `yappi-node-${triple}-0.1.0.tgz`].sort())

  // A cargo that leaves a mark: the install must not call it, nor find a real one on PATH.
  const fakeBin = path.join(work, 'bin')
  const cargoMark = path.join(work, 'cargo-was-called')
  mkdirSync(fakeBin)
  writeFileSync(path.join(fakeBin, 'cargo'), `#!/bin/sh\ntouch '${cargoMark}'\nexit 1\n`)
  chmodSync(path.join(fakeBin, 'cargo'), 0o755)
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: pathWithoutCargo(fakeBin), CARGO: path.join(fakeBin, 'cargo') }
  delete env.YAPPI_NODE_BUILD_FROM_SOURCE
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]

  const app = path.join(work, 'app')
  mkdirSync(app)
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  const install = ['install', '--offline', '--no-audit', '--no-fund', ...tarballs.map((name) => path.join(tarballDir, name))]
  execFileSync('npm', install, { cwd: app, env, stdio: 'pipe' })
  t.false(existsSync(cargoMark), 'cargo was not invoked')
  const installed = path.join(app, 'node_modules')
  t.true(existsSync(path.join(installed, `yappi-node-${triple}`, `yappi-node.${triple}.node`)))
  t.deepEqual(readdirSync(path.join(installed, 'yappi-node')).filter((name) => name.endsWith('.node')), [], 'the main package has no addon of its own')

  const run = (args: string[]): string => execFileSync(process.execPath, args, { cwd: app, env, encoding: 'utf8' })
  const commonjs = run([
    '-e',
    `const { start, stop, getFuncStats } = require('yappi-node')
     ${WORKLOAD}
     start({ intervalUs: 500 }); packagedBusy(150); stop()
     const addon = Object.keys(require.cache).find((file) => file.endsWith('.node'))
     if (!addon.includes(${JSON.stringify(path.join('node_modules', `yappi-node-${triple}`))})) throw new Error('addon from ' + addon)
     if (!require.resolve('yappi-node').startsWith(${JSON.stringify(installed)})) throw new Error('not the installed package')
     ${REPORT}`,
  ])
  const esm = path.join(app, 'main.mjs')
  writeFileSync(
    esm,
    `import yappi, { start, stop, getFuncStats } from 'yappi-node'
     if (yappi.start !== start) throw new Error('the default export is not the same module')
     ${WORKLOAD}
     start({ intervalUs: 500 }); packagedBusy(150); stop()
     ${REPORT}`,
  )
  // The CLI is installed as a bin of the package.
  const bin = path.join(installed, '.bin', process.platform === 'win32' ? 'yappi-node.cmd' : 'yappi-node')
  t.regex(execFileSync(bin, ['--help'], { cwd: app, env, encoding: 'utf8' }), /--format/)
  for (const output of [commonjs, run([esm])]) {
    const busy = JSON.parse(output.trim().split('\n').pop()!) as { samples: number; ttot: number }
    t.true(busy.samples >= 20 && busy.ttot > 0.1, output)
  }

  // Types: an ESM and a CommonJS consumer check cleanly; a wrong option is a type error.
  writeFileSync(
    path.join(app, 'use.mts'),
    `import yappi, { start, getFuncStats, type FuncStat } from 'yappi-node'\nstart({ clock: 'cpu' })\nconst top: FuncStat | undefined = getFuncStats().sort('tsub').toArray()[0]\nyappi.stop()\nexport { top }\n`,
  )
  writeFileSync(path.join(app, 'use.cts'), `import yappi = require('yappi-node')\nyappi.start({ intervalUs: 250 })\nexport const running: boolean = yappi.isRunning()\n`)
  writeFileSync(path.join(app, 'wrong.mts'), `import { start } from 'yappi-node'\nstart({ clock: 'sundial' })\n`)
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc')
  const typeRoots = path.join(repoRoot, 'node_modules', '@types')
  const check = (files: string[]): string => {
    const args = [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', typeRoots, ...files]
    try {
      execFileSync(process.execPath, args, { cwd: app, env, encoding: 'utf8' })
      return ''
    } catch (error) {
      return String((error as { stdout?: string }).stdout)
    }
  }
  t.is(check(['use.mts', 'use.cts']), '')
  t.regex(check(['wrong.mts']), /sundial/)
})
