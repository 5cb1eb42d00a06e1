// Compiled declarations in dist/src import the generated loader's types as '../binding', which
// from there is dist/binding: this file forwards it to the real one at the package root.
'use strict'
const { writeFileSync } = require('node:fs')
const path = require('node:path')

writeFileSync(path.join(__dirname, '..', 'dist', 'binding.d.ts'), "export * from '../binding'\n")
