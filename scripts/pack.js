#!/usr/bin/env node
// Packs the main package and this machine's binary package into one folder, as they are
// published: `npm run pack [-- <folder>]` (default: pack/). The binary package gets the addon
// from npm/<triple>/ (where CI puts release artifacts) or else from the local build.
'use strict'
const { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const { platformArchAbi } = require('./platform')

const root = path.resolve(__dirname, '..')
const out = path.resolve(process.argv[2] ?? path.join(root, 'pack'))

function fail(message) {
  console.error(`pack: ${message}`)
  process.exit(1)
}

/** `npm pack` of `dir` into `out`; scripts are skipped because the build ran before. */
function npmPack(dir) {
  const output = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', out], {
    cwd: dir,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  })
  const [{ filename }] = JSON.parse(output)
  return path.join(out, filename)
}

function versionOf(dir) {
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).version
}

function packMain() {
  for (const built of ['dist/index.js', 'dist/index.d.ts']) {
    if (!existsSync(path.join(root, built))) fail(`${built} is missing: run 'npm run build:ts' first`)
  }
  return npmPack(root)
}

function packPlatform() {
  const triple = platformArchAbi()
  const packageDir = path.join(root, 'npm', triple)
  if (!existsSync(packageDir)) fail(`no platform package npm/${triple} for this machine`)
  if (versionOf(packageDir) !== versionOf(root)) fail(`npm/${triple} has version ${versionOf(packageDir)}, the main package ${versionOf(root)}`)
  const binary = `yappi-node.${triple}.node`
  const source = [path.join(packageDir, binary), path.join(root, binary)].find(existsSync)
  if (!source) fail(`${binary} is missing: run 'npm run build:native' first`)
  // Staged in a temporary copy so the addon is not left in the work tree.
  const stage = mkdtempSync(path.join(os.tmpdir(), 'yappi-node-pack-'))
  try {
    for (const file of ['package.json', 'README.md']) copyFileSync(path.join(packageDir, file), path.join(stage, file))
    copyFileSync(source, path.join(stage, binary))
    return npmPack(stage)
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

mkdirSync(out, { recursive: true })
for (const tarball of [packMain(), packPlatform()]) console.log(tarball)
