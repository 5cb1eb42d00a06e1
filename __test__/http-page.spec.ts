/// <reference lib="dom" />
// (The functions handed to page.evaluate run in the browser: they need its types.)
import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'
import type { Page } from 'playwright-core'

import * as yappi from '../index'
import { launchBrowser, type Browser } from './support/browser'
import { D, spinC } from './workloads/burn'
import { MARKUP_NAME, startServingWorker, type ServingWorker } from './workloads/serving'

// The live page in headless Chromium while a worker runs hot/cold/markup-named functions
// (workloads/serving.ts, spinning in spinB and spinC) and the main thread serves and spins in
// burn.ts's D under a tag now and then (so the tag picker has something to pick). D, because
// no thread runs it otherwise (loading burn.ts calls spinA, in the worker too).
const WORKER_NAME = 'burner'
const TAG = 'render'
const WAIT_MS = 20_000

let server: yappi.YappiServer
let worker: ServingWorker
let browser: Browser
let page: Page
let taggedTimer: NodeJS.Timeout | undefined
const dialogs: string[] = []
const pageErrors: string[] = []

test.before(async () => {
  yappi.start()
  worker = startServingWorker(WORKER_NAME, 180_000)
  await worker.ready
  taggedTimer = setInterval(() => yappi.withTag(TAG, () => D(27)), 40)
  server = await yappi.serve()
  browser = await launchBrowser()
  page = browser.context.pages()[0] ?? (await browser.context.newPage())
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message())
    void dialog.dismiss()
  })
  page.on('pageerror', (error) => pageErrors.push(error.message))
  await page.goto(server.url)
})

test.after.always(async () => {
  clearInterval(taggedTimer)
  await browser?.close()
  await worker?.stop()
  await server?.close()
  yappi.stop()
})

/** The names in the stats table, top to bottom. */
const tableNames = () => page.$$eval('#stats tbody tr td:first-child', (cells) => cells.map((cell) => cell.textContent ?? ''))

async function waitForNames(names: string[], absent: string[] = []): Promise<void> {
  const shown = page.waitForFunction(
    ([wanted, unwanted]) => {
      const shown = Array.from(document.querySelectorAll('#stats tbody tr td:first-child')).map((cell) => cell.textContent)
      return wanted.every((name) => shown.includes(name)) && unwanted.every((name) => !shown.includes(name))
    },
    [names, absent],
    { timeout: WAIT_MS },
  )
  await shown.catch(async (error: Error) => {
    throw new Error(`${error.message}: wanted ${names.join(', ')} without ${absent.join(', ')}; the table shows ${(await tableNames()).join(', ')}`)
  })
}

test.serial("the table shows the workload's functions, and a function named as markup is text", async (t) => {
  await waitForNames(['hot', 'cold', 'spinB', 'spinC', MARKUP_NAME])
  const markupCell = await page.$$eval('#stats tbody td', (cells, name) => cells.filter((cell) => cell.textContent === name).length, MARKUP_NAME)
  t.is(markupCell, 1, 'the name is one cell of text')
  t.is(await page.$$eval('img', (images) => images.length), 0, 'no <img> element was made from it')
  t.deepEqual(dialogs, [], 'no script ran from it')
  const headers = await page.$$eval('#stats thead th', (cells) => cells.map((cell) => cell.textContent))
  t.deepEqual(headers, ['name', 'module', 'line', 'ncall', 'nactualcall', 'ttot', 'tsub', 'tavg', 'samples'])
})

test.serial('a click on a row shows its callers and callees', async (t) => {
  await waitForNames(['hot'])
  await page.click('#stats tbody tr:has(td:first-child:text-is("hot"))')
  await page.waitForFunction(() => !document.getElementById('detail')!.hidden && document.getElementById('detail-name')!.textContent === 'hot', undefined, { timeout: WAIT_MS })
  const names = (table: string) => page.$$eval(`#${table} tbody td:first-child`, (cells) => cells.map((cell) => cell.textContent))
  t.deepEqual(await names('callers'), ['periods'])
  t.deepEqual(await names('callees'), ['spinB'])
  // A callee's row leads on to that function.
  await page.click('#callees tbody tr')
  await page.waitForFunction(() => document.getElementById('detail-name')!.textContent === 'spinB', undefined, { timeout: WAIT_MS })
  t.deepEqual(await names('callers'), ['hot'])
})

test.serial('column headers sort the table, by the server, both ways', async (t) => {
  await page.click('#stats th[data-sort="tsub"]')
  await page.waitForSelector('#stats th[data-sort="tsub"][aria-sort="descending"]', { timeout: WAIT_MS })
  await waitForNames(['spinB'])
  const tsub = await page.$$eval('#stats tbody tr td:nth-child(7)', (cells) => cells.map((cell) => Number(cell.textContent)))
  t.deepEqual(tsub, [...tsub].sort((a, b) => b - a))
  t.is((await tableNames())[0], 'spinB', 'hot spends its time in spinB')
  await page.click('#stats th[data-sort="name"]')
  await page.waitForSelector('#stats th[data-sort="name"][aria-sort="ascending"]', { timeout: WAIT_MS })
  await page.waitForFunction(() => {
    const names = Array.from(document.querySelectorAll('#stats tbody tr td:first-child')).map((cell) => cell.textContent!.toLowerCase())
    return names.length > 3 && names.every((name, i) => i === 0 || names[i - 1]!.localeCompare(name) <= 0)
  }, undefined, { timeout: WAIT_MS })
  t.pass()
})

test.serial('the thread and tag pickers select what the table shows', async (t) => {
  await page.click('#stats th[data-sort="ttot"]')
  await page.waitForSelector('#stats th[data-sort="ttot"][aria-sort="descending"]', { timeout: WAIT_MS })
  await page.waitForSelector(`#thread option[value="${worker.threadId}"]`, { state: 'attached', timeout: WAIT_MS })
  const threads = await page.$$eval('#thread option', (options) => options.map((option) => option.textContent))
  t.true(threads.includes(`${WORKER_NAME} (#${worker.threadId})`) && threads.includes('main (#0)'), threads.join(', '))
  await page.selectOption('#thread', '0')
  await waitForNames(['D'], ['hot', 'spinB'])
  await page.selectOption('#thread', String(worker.threadId))
  await waitForNames(['hot', 'spinB'], ['D'])
  await page.selectOption('#thread', '')
  await page.waitForSelector(`#tag option[value="${TAG}"]`, { state: 'attached', timeout: WAIT_MS })
  await page.selectOption('#tag', TAG)
  await waitForNames(['D'], ['hot', 'cold'])
  await page.selectOption('#tag', '')
  await waitForNames(['hot', 'D'])
  t.pass()
})

test.serial('memory and overhead are shown, and the page refreshes by itself', async (t) => {
  const memory = await page.$$eval('#memory dt', (terms) => terms.map((term) => term.textContent))
  t.deepEqual(memory, ['used', 'peak', 'functions', 'dropped samples', 'dropped functions'])
  t.regex((await page.textContent('#overhead')) ?? '', /all threads\s*[\d.]+ %/)
  const first = await page.textContent('#updated')
  await page.waitForFunction((before) => document.getElementById('updated')!.textContent !== before, first, { timeout: WAIT_MS })
  t.pass()
})

/**
 * Distinct colours (not greys: speedscope's pastel frame colours have channels 29 to 70 apart,
 * its greys and black none) that cover at least `minPixels` of a PNG, counted by the browser.
 */
function colouredAreas(png: Buffer, minPixels: number): Promise<number> {
  return page.evaluate(
    async ([base64, least]) => {
      const image = new Image()
      image.src = `data:image/png;base64,${base64}`
      await image.decode()
      const canvas = new OffscreenCanvas(image.width, image.height)
      const context = canvas.getContext('2d')!
      context.drawImage(image, 0, 0)
      const { data } = context.getImageData(0, 0, image.width, image.height)
      const counts = new Map<number, number>()
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]]
        if (Math.max(r, g, b) - Math.min(r, g, b) < 20) continue
        const key = (r << 16) | (g << 8) | b
        counts.set(key, (counts.get(key) ?? 0) + 1)
      }
      return [...counts.values()].filter((count) => count >= least).length
    },
    [png.toString('base64'), minPixels] as const,
  )
}

test.serial('the flame graph renders the busiest thread from our speedscope export', async (t) => {
  await page.selectOption('#thread', '')
  await page.click('#flame-reload')
  const frame = page.frameLocator('#flame')
  // speedscope names the profile it shows in its toolbar; ours are "<thread> (thread <id>, wall clock)".
  await frame.locator(`text=${WORKER_NAME} (thread ${worker.threadId}`).first().waitFor({ timeout: WAIT_MS })
  // Its frames are drawn on a canvas, a colour per function: the worker's periods, hot, spinB,
  // cold and spinC each span thousands of pixels (hot and cold run 75 % and 25 % of its time),
  // where a blank canvas has no colour but the toolbar's selected button. A loaded machine
  // draws late: look again until the deadline.
  const expected = 5
  const deadline = Date.now() + WAIT_MS
  let areas = 0
  while (areas < expected && Date.now() < deadline) {
    await page.waitForTimeout(250)
    areas = await colouredAreas(await page.locator('#flame').screenshot(), 300)
  }
  t.true(areas >= expected, `${areas} coloured areas in the flame graph, ${expected} functions of the worker`)
  t.deepEqual(pageErrors, [], 'no script errors on the page or in speedscope')

  // YAPPI_PAGE_SCREENSHOT=docs/http-page.png renews the README's picture: the worker's thread
  // by self time, a function picked, its flame graph.
  if (process.env.YAPPI_PAGE_SCREENSHOT) {
    await page.setViewportSize({ width: 1400, height: 1250 })
    await page.selectOption('#limit', '20')
    await page.click('#stats th[data-sort="tsub"]')
    await page.selectOption('#thread', String(worker.threadId))
    await waitForNames(['hot', 'cold'], ['D'])
    await page.click('#stats tbody tr:has(td:first-child:text-is("hot"))')
    await page.waitForFunction(() => document.getElementById('detail-name')!.textContent === 'hot', undefined, { timeout: WAIT_MS })
    await frame.locator(`text=${WORKER_NAME} (thread ${worker.threadId}`).first().waitFor({ timeout: WAIT_MS })
    await page.waitForTimeout(1000)
    fs.mkdirSync(path.dirname(process.env.YAPPI_PAGE_SCREENSHOT), { recursive: true })
    await page.screenshot({ path: process.env.YAPPI_PAGE_SCREENSHOT })
  }
})

test.serial('the stall list shows a blocked main thread, and a click draws that stall alone', async (t) => {
  // 250 ms of spinC on the main thread, which otherwise runs 27 ms at a time (below the 100 ms threshold).
  yappi.withTag('blocked', () => spinC(250))
  // Found by the tag we set: the top function is V8's attribution, which may charge a spin to
  // its caller (seen once at load 6 on Node 20). The page must show the API's, named below.
  const row = page.locator('#stalls tbody tr', { hasText: 'blocked' }).first()
  await row.waitFor({ timeout: WAIT_MS })
  const cells = await row.locator('td').allTextContents()
  t.log(cells.join(' | '))
  t.regex(cells[1], /#0$/, 'on the main thread')
  t.true(Number(cells[2]) >= 240, `${cells[2]} ms`)
  t.is(cells[3], 'blocked', 'its tag')
  const id = await row.getAttribute('data-stall')
  const stall = yappi.getStalls().find((held) => String(held.id) === id)
  t.truthy(stall, `stall ${id} is held`)
  t.true(cells[4].startsWith(`${stall?.functions[0]?.name} `), `top function ${cells[4]}: the API's is ${stall?.functions[0]?.name}`)
  const spin = stall?.functions.find((fn) => fn.name === 'spinC')
  if (stall?.functions[0]?.name !== 'spinC') t.log(`V8 charged the spin elsewhere: spinC's share ${spin ? (spin.share * 100).toFixed(1) : 0} %`)
  await row.click()
  t.is(await page.textContent('#flame-of'), `of stall ${id}`)
  // speedscope names the profile in its toolbar: the stall's is "<thread> stall <id> (thread 0, wall clock)".
  await page.frameLocator('#flame').locator(`text=stall ${id} (thread 0`).first().waitFor({ timeout: WAIT_MS })
  t.deepEqual(pageErrors, [], 'no script errors on the page or in speedscope')
})
