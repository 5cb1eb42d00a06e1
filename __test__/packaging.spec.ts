import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'

import test, { type ExecutionContext } from 'ava'

const repoRoot = path.resolve(__dirname, '..', '..')
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { platformArchAbi } = require(path.join(repoRoot, 'scripts', 'platform.js')) as { platformArchAbi: () => string }
const triple = platformArchAbi()
const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version

// Deadlines: a quick command, and an install that compiles the native core and its dependencies
// from nothing (about 2 minutes on an idle 2-core machine; a loaded one may take several times that).
const COMMAND_DEADLINE_MS = 120_000
const SOURCE_BUILD_DEADLINE_MS = 15 * 60_000

const work = realpathSync(mkdtempSync(path.join(tmpdir(), 'yappi-packaging-')))
const tarballDir = path.join(work, 'tarballs')
const mainTarball = path.join(tarballDir, `yappi-node-${version}.tgz`)
const platformTarball = path.join(tarballDir, `yappi-node-${triple}-${version}.tgz`)

// Packed once for every test, as `npm run pack` does, into a folder removed at the end.
test.before(() => {
  execFileSync(process.execPath, [path.join(repoRoot, 'scripts', 'pack.js'), tarballDir], { stdio: 'pipe', timeout: COMMAND_DEADLINE_MS })
})

test.after.always(() => {
  rmSync(work, { recursive: true, force: true })
})

/** The environment of a user's shell: nothing from npm's or cargo's runs, no forced source build. */
function userEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]
  for (const key of ['YAPPI_NODE_BUILD_FROM_SOURCE', 'CARGO', 'CARGO_TARGET_DIR']) delete env[key]
  return { ...env, ...overrides }
}

/** A PATH without any folder that holds cargo, with `fakeBin` first. */
function pathWithoutCargo(fakeBin: string): string {
  const cargo = process.platform === 'win32' ? 'cargo.exe' : 'cargo'
  const kept = (process.env.PATH ?? '').split(path.delimiter).filter((dir) => dir && !existsSync(path.join(dir, cargo)))
  return [fakeBin, ...kept].join(path.delimiter)
}

/** An empty project to install into. */
function newApp(name: string, manifest: Record<string, unknown> = {}): string {
  const app = path.join(work, name)
  mkdirSync(app)
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true, ...manifest }))
  return app
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL')
  } catch {
    // The group has already exited.
  }
}

/**
 * Runs a command in its own process group and resolves with its output (stdout and stderr as
 * they came). Past the deadline the whole group — npm and the cargo it runs — is killed and the
 * promise rejects, so a stuck build fails the test instead of outliving it.
 */
function runBounded(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }, deadlineMs: number): Promise<string> {
  const described = `${command} ${args.join(' ')}`
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const collect = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
    }
    child.stdout!.on('data', collect)
    child.stderr!.on('data', collect)
    const deadline = setTimeout(() => {
      killGroup(child)
      reject(new Error(`${described} did not finish within ${deadlineMs / 1000} s; its output ends:\n${output.slice(-4000)}`))
    }, deadlineMs)
    child.once('error', (error) => {
      clearTimeout(deadline)
      reject(error)
    })
    child.once('close', (code, signal) => {
      clearTimeout(deadline)
      if (code === 0) resolve(output)
      else reject(new Error(`${described} ended with ${signal ?? `exit code ${code}`}; its output ends:\n${output.slice(-8000)}`))
    })
  })
}

// Code run by the installed package (as `yappi`): a busy function called a known number of
// times, which the stats must find. Exact counts make the call count a truth that does not
// depend on how much CPU a loaded machine gives the sampler.
const BUSY_CALLS = 3
const SESSION = `
function packagedBusy(ms) {
  const start = process.hrtime()
  for (;;) {
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}
yappi.start({ intervalUs: 500, counts: 'exact' })
for (let i = 0; i < ${BUSY_CALLS}; i++) packagedBusy(50)
yappi.stop()
const busy = yappi.getFuncStats().find('packagedBusy')
const addon = Object.keys(require.cache).find((file) => file.endsWith('.node'))
console.log(JSON.stringify({
  found: Boolean(busy),
  ncall: busy?.ncall, callsExact: busy?.callsExact, samples: busy?.samples, ttot: busy?.ttot,
  wallTime: yappi.getThreadStats().get(0)?.wallTime,
  addon, main: require.resolve('yappi-node'),
}))
`

interface Profiled {
  found: boolean
  ncall: number
  callsExact: boolean
  samples: number
  ttot: number
  /** The profiled thread's wall time over the session. */
  wallTime: number
  /** The addon file that was loaded. */
  addon: string
  /** Where `require('yappi-node')` resolved. */
  main: string
}

function lastJsonLine(output: string): Profiled {
  return JSON.parse(output.trim().split('\n').pop()!) as Profiled
}

/** Runs `script` (a file in `app`, as exact counts need a script with a URL) and reports what it found. */
function runSession(app: string, env: NodeJS.ProcessEnv, script: string): Profiled {
  return lastJsonLine(execFileSync(process.execPath, [script], { cwd: app, env, encoding: 'utf8', timeout: COMMAND_DEADLINE_MS }))
}

/** Requires the package installed in `app`, profiles the busy function and reports what it found. */
function profileInstalled(app: string, env: NodeJS.ProcessEnv): Profiled {
  const script = path.join(app, 'main.cjs')
  writeFileSync(script, `const yappi = require('yappi-node')\n${SESSION}`)
  return runSession(app, env, script)
}

/** Called exactly BUSY_CALLS times and sampled; 150 ms at 500 µs is 300 samples on an idle machine, far fewer on a loaded one. */
function assertFound(t: ExecutionContext, busy: Profiled): void {
  const shown = JSON.stringify(busy)
  t.true(busy.found, shown)
  t.is(busy.ncall, BUSY_CALLS, shown)
  t.true(busy.callsExact, shown)
  t.true(busy.samples >= 10, shown)
  t.true(busy.ttot > 0 && busy.ttot <= busy.wallTime, shown)
}

test.serial("a failed source build quotes cargo's error; only a missing cargo asks for Rust", (t) => {
  // The package as npm 11 packed it for `"files": ["crates/*/src"]`: the manifests, no sources.
  const broken = path.join(work, 'no-sources')
  for (const file of ['scripts/install.js', 'scripts/platform.js', 'Cargo.toml', 'Cargo.lock', 'crates/engine/Cargo.toml', 'crates/binding/Cargo.toml', 'crates/binding/build.rs']) {
    mkdirSync(path.dirname(path.join(broken, file)), { recursive: true })
    copyFileSync(path.join(repoRoot, file), path.join(broken, file))
  }
  const install = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['scripts/install.js'], {
      cwd: broken,
      env: userEnv({ YAPPI_NODE_BUILD_FROM_SOURCE: '1', ...env }),
      encoding: 'utf8',
      timeout: COMMAND_DEADLINE_MS,
    })

  const failed = install({})
  t.is(failed.status, 1, failed.stderr)
  t.regex(failed.stderr, /yappi-node: `cargo build --release -p yappi-node-binding --locked` in .* failed with exit code \d+:\nerror: failed to load manifest[^]*no targets specified/)
  t.notRegex(failed.stderr, /Install Rust/)

  const noCargoOnPath = install({ PATH: pathWithoutCargo(path.join(work, 'empty-bin')) })
  t.is(noCargoOnPath.status, 1)
  t.regex(noCargoOnPath.stderr, /yappi-node: building from source needs Rust, and cargo is not on PATH\. Install Rust \(https:\/\/rustup\.rs\), or install the prebuilt package yappi-node-/)
  const missingCargo = install({ CARGO: path.join(work, 'no-such-cargo') })
  t.is(missingCargo.status, 1)
  t.regex(missingCargo.stderr, /and CARGO=.*no-such-cargo does not exist\. Install Rust/)
})

test.serial('the packed packages install offline without Rust; require, import and types work', (t) => {
  t.timeout(180_000)
  t.true(existsSync(path.join(repoRoot, 'npm', triple)), `a platform package npm/${triple} exists for this machine`)
  t.deepEqual(readdirSync(tarballDir).filter((name) => name.endsWith('.tgz')).sort(), [mainTarball, platformTarball].map((file) => path.basename(file)).sort())

  // A cargo that leaves a mark: the install must not call it, nor find a real one on PATH.
  const fakeBin = path.join(work, 'bin')
  const cargoMark = path.join(work, 'cargo-was-called')
  mkdirSync(fakeBin)
  writeFileSync(path.join(fakeBin, 'cargo'), `#!/bin/sh\ntouch '${cargoMark}'\nexit 1\n`)
  chmodSync(path.join(fakeBin, 'cargo'), 0o755)
  const env = userEnv({ PATH: pathWithoutCargo(fakeBin), CARGO: path.join(fakeBin, 'cargo') })

  const app = newApp('prebuilt')
  const install = ['install', '--offline', '--no-audit', '--no-fund', mainTarball, platformTarball]
  execFileSync('npm', install, { cwd: app, env, stdio: 'pipe', timeout: COMMAND_DEADLINE_MS })
  t.false(existsSync(cargoMark), 'cargo was not invoked')
  const installed = path.join(app, 'node_modules')
  t.true(existsSync(path.join(installed, `yappi-node-${triple}`, `yappi-node.${triple}.node`)))
  t.deepEqual(readdirSync(path.join(installed, 'yappi-node')).filter((name) => name.endsWith('.node')), [], 'the main package has no addon of its own')
  const manifest = JSON.parse(readFileSync(path.join(installed, 'yappi-node', 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  t.deepEqual(manifest.scripts, { install: 'node scripts/install.js' }, 'the published manifest has no development scripts')

  const commonjs = profileInstalled(app, env)
  t.true(commonjs.addon.includes(path.join('node_modules', `yappi-node-${triple}`)), `addon from ${commonjs.addon}`)
  t.true(commonjs.main.startsWith(installed), `resolved to ${commonjs.main}`)
  const esm = path.join(app, 'main.mjs')
  writeFileSync(
    esm,
    `import { createRequire } from 'node:module'
     import yappi, { start } from 'yappi-node'
     const require = createRequire(import.meta.url)
     if (yappi.start !== start) throw new Error('the default export is not the same module')
     ${SESSION}`,
  )
  // The CLI is installed as a bin of the package.
  const bin = path.join(installed, '.bin', process.platform === 'win32' ? 'yappi-node.cmd' : 'yappi-node')
  t.regex(execFileSync(bin, ['--help'], { cwd: app, env, encoding: 'utf8', timeout: COMMAND_DEADLINE_MS }), /--format/)
  const fromEsm = runSession(app, env, esm)
  for (const busy of [commonjs, fromEsm]) assertFound(t, busy)

  // The HTTP endpoint's page ships in the package, speedscope's files with it (no network).
  const served = execFileSync(
    process.execPath,
    [
    '-e',
    `const { serve } = require('yappi-node')
     serve().then(async (server) => {
       const get = async (path) => { const r = await fetch(server.url + path); return [r.status, await r.text()] }
       const [pageStatus] = await get('')
       const [viewerStatus, viewer] = await get('assets/speedscope/index.html')
       const script = viewer.match(/src="(speedscope-[^"]+\\.js)"/)[1]
       const [scriptStatus] = await get('assets/speedscope/' + script)
       await server.close()
       console.log(JSON.stringify([pageStatus, viewerStatus, scriptStatus]))
     })`,
    ],
    { cwd: app, env, encoding: 'utf8', timeout: COMMAND_DEADLINE_MS },
  )
  t.deepEqual(JSON.parse(served.trim()), [200, 200, 200], 'the page, the viewer and its script')

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
      execFileSync(process.execPath, args, { cwd: app, env, encoding: 'utf8', timeout: COMMAND_DEADLINE_MS })
      return ''
    } catch (error) {
      return String((error as { stdout?: string }).stdout)
    }
  }
  t.is(check(['use.mts', 'use.cts']), '')
  t.regex(check(['wrong.mts']), /sundial/)
})

test.serial('without the platform package, the install script builds the native core from the packed sources', async (t) => {
  t.timeout(SOURCE_BUILD_DEADLINE_MS + COMMAND_DEADLINE_MS)
  // The real cargo, from PATH as a user has it.
  const env = userEnv()
  const cargo = spawnSync('cargo', ['--version'], { env, encoding: 'utf8', timeout: COMMAND_DEADLINE_MS })
  t.is(cargo.status, 0, `cargo must be on PATH for this test: ${cargo.error?.message ?? cargo.stderr}`)

  // Approved the way `npm install-scripts approve` records a tarball, so npm neither warns nor,
  // where unreviewed scripts are blocked, skips the build.
  const app = newApp('from-source', { allowScripts: { [`file:${mainTarball}`]: true } })
  const began = Date.now()
  const output = await runBounded('npm', ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', mainTarball], { cwd: app, env }, SOURCE_BUILD_DEADLINE_MS)
  t.log(`npm install with the source build took ${((Date.now() - began) / 1000).toFixed(0)} s`)
  t.regex(output, /yappi-node: no prebuilt binary for .* loads; building the native core with cargo/)
  t.regex(output, /Compiling yappi-engine v/)
  t.regex(output, /Compiling yappi-node-binding v/)
  t.regex(output, new RegExp(`yappi-node: built yappi-node\\.${triple}\\.node`))
  t.notRegex(output, /allowScripts/, 'the approved install script ran without a warning')

  const installed = path.join(app, 'node_modules')
  t.false(existsSync(path.join(installed, `yappi-node-${triple}`)), 'the platform package is absent')
  const built = path.join(installed, 'yappi-node', `yappi-node.${triple}.node`)
  t.true(existsSync(built))
  t.false(existsSync(path.join(installed, 'yappi-node', 'target')), "cargo's intermediate files are not left in node_modules")

  const busy = profileInstalled(app, env)
  t.is(busy.addon, built, 'the addon built by the install script is the one loaded')
  assertFound(t, busy)
})
