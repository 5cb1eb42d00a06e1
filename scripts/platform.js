// What napi-rs calls this machine: `<platform>-<arch>[-abi]`, the suffix of the binary's file
// name (`yappi-node.<triple>.node`) and of its package (`yappi-node-<triple>`, folder npm/<triple>).
'use strict'

function isMusl() {
  if (process.platform !== 'linux') return false
  const report = process.report?.getReport?.()
  return !report?.header?.glibcVersionRuntime
}

function platformArchAbi() {
  const abi = process.platform === 'linux' ? (isMusl() ? '-musl' : '-gnu') : process.platform === 'win32' ? '-msvc' : ''
  return `${process.platform}-${process.arch}${abi}`
}

module.exports = { platformArchAbi }
