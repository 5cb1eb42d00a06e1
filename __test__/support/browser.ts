// Debian's headless Chromium, driven by playwright-core, for the page's tests. `.ci/run`
// installs chromium when it is missing.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import { chromium, type BrowserContext } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'

export interface Browser {
  context: BrowserContext
  /** A fresh profile directory, removed on close. */
  userDataDir: string
  close(): Promise<void>
}

/** A new headless browser with a profile of its own and nothing that reaches the network. */
export async function launchBrowser(viewport = { width: 1400, height: 1000 }): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`the page tests need headless Chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does)`)
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yappi-chromium-'))
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport,
      timeout: 60_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    return {
      context,
      userDataDir,
      async close() {
        await context.close().catch(() => {})
        fs.rmSync(userDataDir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    fs.rmSync(userDataDir, { recursive: true, force: true })
    throw error
  }
}
