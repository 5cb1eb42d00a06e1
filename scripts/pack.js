#!/usr/bin/env node
// Packs the main package and this machine's binary package into one folder, as they are
// published: `npm run pack [-- <folder>]` (default: pack/). The binary package gets the addon
// from npm/<triple>/ (where CI puts release artifacts) or else from the local build.
// The main package is packed from a staged copy whose package.json keeps only the install
// script: the others (`prepare` builds the TypeScript in a checkout) are for development, need
// files that are not packed, and would be listed for review by every installing project.
'use strict'
const { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs')
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

/** What `npm pack` of `dir` reports (one entry); scripts are skipped because the build ran before. */
function npmPack(dir, ...flags) {
  const output = execFileSync('npm', ['pack', '--json', '--ignore-scripts', ...flags], {
    cwd: dir,
    encoding: 'utf8',
    shell: process.platform === 'win32',
  })
  const [packed] = JSON.parse(output)
  return packed
}

/** Packs `dir` into `out`; returns the tarball's path. */
function packInto(dir) {
  return path.join(out, npmPack(dir, '--pack-destination', out).filename)
}

function manifestOf(dir) {
  return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'))
}

/** The package.json that is published: the repository's, with only the install script. */
function publishedManifest() {
  const manifest = manifestOf(root)
  return { ...manifest, scripts: { install: manifest.scripts.install } }
}

/** Runs `pack(stage)` on a fresh temporary folder, removed afterwards so nothing is left behind. */
function staged(pack) {
  const stage = mkdtempSync(path.join(os.tmpdir(), 'yappi-node-pack-'))
  try {
    return pack(stage)
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

function packMain() {
  for (const built of ['dist/index.js', 'dist/index.d.ts']) {
    if (!existsSync(path.join(root, built))) fail(`${built} is missing: run 'npm run build:ts' first`)
  }
  const files = npmPack(root, '--dry-run').files.map((file) => file.path)
  return staged((stage) => {
    for (const file of files) {
      mkdirSync(path.dirname(path.join(stage, file)), { recursive: true })
      copyFileSync(path.join(root, file), path.join(stage, file))
    }
    writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(publishedManifest(), null, 2)}\n`)
    return packInto(stage)
  })
}

function packPlatform() {
  const triple = platformArchAbi()
  const packageDir = path.join(root, 'npm', triple)
  if (!existsSync(packageDir)) fail(`no platform package npm/${triple} for this machine`)
  const version = manifestOf(packageDir).version
  if (version !== manifestOf(root).version) fail(`npm/${triple} has version ${version}, the main package ${manifestOf(root).version}`)
  const binary = `yappi-node.${triple}.node`
  const source = [path.join(packageDir, binary), path.join(root, binary)].find(existsSync)
  if (!source) fail(`${binary} is missing: run 'npm run build:native' first`)
  // Staged so the addon is not left in the work tree.
  return staged((stage) => {
    for (const file of ['package.json', 'README.md']) copyFileSync(path.join(packageDir, file), path.join(stage, file))
    copyFileSync(source, path.join(stage, binary))
    return packInto(stage)
  })
}

mkdirSync(out, { recursive: true })
for (const tarball of [packMain(), packPlatform()]) console.log(tarball)
