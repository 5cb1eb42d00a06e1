// Opt-in CPU hog: with YAPPI_TEST_HOG=<n> (1 on a 2-core machine) every test process keeps n
// busy processes running beside it, so the suite can be checked with the other core taken.
// ava loads this module (`require` in package.json's ava config) in each test file's process,
// and files run one at a time, so the hogs cover the whole run.
import { spawn, type ChildProcess } from 'node:child_process'

// Spins in slices and exits as soon as its parent is gone (its ppid changes when it is
// reparented), so a test process that is killed outright does not leave it spinning.
const HOG = `
const parent = process.ppid
for (;;) {
  const sliceEnd = Date.now() + 100
  while (Date.now() < sliceEnd);
  if (process.ppid !== parent) process.exit(0)
}
`

function hogCount(): number {
  const setting = process.env.YAPPI_TEST_HOG
  if (!setting) return 0
  const count = Number(setting)
  if (!Number.isInteger(count) || count < 0) throw new Error(`YAPPI_TEST_HOG must be a whole number of busy processes, not ${JSON.stringify(setting)}`)
  return count
}

/** A hog that does not keep the test process alive: ava waits for that process to exit by itself. */
function startHog(): ChildProcess {
  const hog = spawn(process.execPath, ['-e', HOG], { stdio: 'ignore' })
  hog.unref()
  return hog
}

const hogs = Array.from({ length: hogCount() }, startHog)
process.on('exit', () => {
  for (const hog of hogs) hog.kill('SIGKILL')
})
