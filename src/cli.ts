#!/usr/bin/env node
// The command line: `yappi-node [options] script [args]` profiles a script from its first line
// (src/cli/script.ts); `yappi-node attach|top PID` profiles a running process (src/attach/cli.ts).
import * as fs from 'node:fs'
import * as path from 'node:path'

const version = (): string => (JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
const argv = process.argv.slice(2)

if (argv[0] === 'attach' || argv[0] === 'top') {
  void (require('./attach/cli') as typeof import('./attach/cli')).runAttach(argv[0], argv.slice(1))
} else {
  ;(require('./cli/script') as typeof import('./cli/script')).runScript(argv, version)
}
