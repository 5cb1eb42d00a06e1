#!/usr/bin/env node
// Runs on `npm install`. A prebuilt binary (the platform package, or a local build) is used when
// it loads; otherwise the native core is built from source with cargo, which needs Rust.
'use strict'
const { copyFileSync, existsSync, rmSync } = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')

const { platformArchAbi } = require('./platform')

const root = path.resolve(__dirname, '..')
// cargo's whole output is passed through as it comes; this much of its end is kept to quote
// the error in the last lines, which are all npm shows of a failed install at a glance.
const KEPT_OUTPUT_BYTES = 64 * 1024
const QUOTED_ERROR_LINES = 40

function bindingLoads() {
  try {
    require(path.join(root, 'binding.js'))
    return true
  } catch {
    return false
  }
}

function libraryFile(crate) {
  if (process.platform === 'win32') return `${crate}.dll`
  return process.platform === 'darwin' ? `lib${crate}.dylib` : `lib${crate}.so`
}

function fail(message) {
  console.error(`yappi-node: ${message}`)
  process.exitCode = 1
}

/** cargo's error as it printed it: from its first `error` line on (warnings before it are left out). */
function cargoError(output) {
  const lines = output.split(/\r?\n/)
  const first = lines.findIndex((line) => /^error(\[\w+\])?:/.test(line))
  const quoted = (first === -1 ? lines.slice(-QUOTED_ERROR_LINES) : lines.slice(first, first + QUOTED_ERROR_LINES)).join('\n').trim()
  return quoted || '(cargo printed nothing)'
}

/** Runs cargo, passing its output through; resolves with how it ended and the end of its stderr. */
function runCargo(cargo, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cargo, args, { cwd: root, env, stdio: ['ignore', 'inherit', 'pipe'] })
    let tail = ''
    child.stderr.on('data', (chunk) => {
      process.stderr.write(chunk)
      tail = (tail + chunk.toString('utf8')).slice(-KEPT_OUTPUT_BYTES)
    })
    child.once('error', (error) => resolve({ error, tail }))
    child.once('close', (code, signal) => resolve({ code, signal, tail }))
  })
}

async function build(why) {
  const cargo = process.env.CARGO || 'cargo'
  const triple = platformArchAbi()
  // Installed as a dependency, the build's intermediate files (over 100 MB) are not kept; in a
  // checkout they stay in target/ for the next build.
  const keepTarget = Boolean(process.env.CARGO_TARGET_DIR) || !root.split(path.sep).includes('node_modules')
  const targetDir = path.resolve(root, process.env.CARGO_TARGET_DIR || 'target')
  const args = ['build', '--release', '-p', 'yappi-node-binding']
  if (existsSync(path.join(root, 'Cargo.lock'))) args.push('--locked')
  console.log(`yappi-node: ${why}; building the native core with cargo`)
  const result = await runCargo(cargo, args, { ...process.env, CARGO_TARGET_DIR: targetDir })
  try {
    if (result.error?.code === 'ENOENT') {
      fail(
        `building from source needs Rust, and ${cargo === 'cargo' ? 'cargo is not on PATH' : `CARGO=${cargo} does not exist`}. ` +
          `Install Rust (https://rustup.rs), or install the prebuilt package yappi-node-${triple}, then run npm install again.`,
      )
    } else if (result.error) {
      fail(`could not run ${cargo}: ${result.error.message}`)
    } else if (result.code !== 0) {
      const how = result.signal ? `was killed by ${result.signal}` : `failed with exit code ${result.code}`
      fail(`\`${cargo} ${args.join(' ')}\` in ${root} ${how}:\n${cargoError(result.tail)}`)
    } else {
      const destination = path.join(root, `yappi-node.${triple}.node`)
      copyFileSync(path.join(targetDir, 'release', libraryFile('yappi_node_binding')), destination)
      console.log(`yappi-node: built ${path.basename(destination)}`)
    }
  } finally {
    if (!keepTarget) rmSync(targetDir, { recursive: true, force: true })
  }
}

/** Why the native core is built here, or undefined when a binary loads. */
function reasonToBuild() {
  if (process.env.YAPPI_NODE_BUILD_FROM_SOURCE === '1') return 'YAPPI_NODE_BUILD_FROM_SOURCE=1'
  if (bindingLoads()) return undefined
  const triple = platformArchAbi()
  return `no prebuilt binary for ${triple} (package yappi-node-${triple}) loads`
}

const why = reasonToBuild()
if (why) build(why).catch((error) => fail(`building from source failed: ${error instanceof Error ? error.message : error}`))
