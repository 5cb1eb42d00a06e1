#!/usr/bin/env node
// Runs on `npm install`. A prebuilt binary (the platform package, or a local build) is used when
// it loads; otherwise the native core is built from source with cargo, which needs Rust.
'use strict'
const { copyFileSync, existsSync } = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { platformArchAbi } = require('./platform')

const root = path.resolve(__dirname, '..')

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

function build() {
  const cargo = process.env.CARGO || 'cargo'
  console.log('yappi-node: no prebuilt binary for this platform; building the native core with cargo')
  const args = ['build', '--release', '-p', 'yappi-node-binding']
  if (existsSync(path.join(root, 'Cargo.lock'))) args.push('--locked')
  const result = spawnSync(cargo, args, { cwd: root, stdio: 'inherit' })
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit code ${result.status}`
    console.error(`yappi-node: building from source failed (${why}). Install Rust (https://rustup.rs) and run npm install again.`)
    process.exit(1)
  }
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  const built = path.join(targetDir, 'release', libraryFile('yappi_node_binding'))
  const destination = path.join(root, `yappi-node.${platformArchAbi()}.node`)
  copyFileSync(built, destination)
  console.log(`yappi-node: built ${path.basename(destination)}`)
}

if (process.env.YAPPI_NODE_BUILD_FROM_SOURCE === '1' || !bindingLoads()) build()
