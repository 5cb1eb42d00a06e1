// The live page of yappi-node's HTTP endpoint: plain JavaScript the browser runs as it is (no
// build step), talking only to the server that sent it. Everything the application named
// (functions, files, threads, tags) reaches the document through textContent or attributes,
// never through markup, and the server's Content-Security-Policy forbids inline code besides.

const TOKEN = new URLSearchParams(location.hash.slice(1)).get('token') ?? new URLSearchParams(location.search).get('token')
const TEXT_KEYS = new Set(['name', 'module'])
const EXPORTS = [
  ['pprof', 'pprof (go tool pprof)'],
  ['callgrind', 'callgrind (KCachegrind)'],
  ['cpuprofile', 'cpuprofile (DevTools, one thread)'],
  ['speedscope', 'speedscope'],
  ['collapsed', 'collapsed stacks (flamegraph.pl)'],
  ['json', 'json (yappi.load)'],
]

const state = { sort: 'ttot', order: 'desc', thread: '', tag: '', limit: 100, selected: undefined, timer: undefined, flameLoads: 0 }

const $ = (id) => document.getElementById(id)

/** A URL of the API, relative to this page, with the token when there is one. */
function apiUrl(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, value]) => value !== '' && value !== undefined))
  if (TOKEN) query.set('token', TOKEN)
  const search = query.toString()
  return `api/${path}${search ? `?${search}` : ''}`
}

async function api(path, params, method = 'GET') {
  const response = await fetch(apiUrl(path, params), { method, headers: TOKEN ? { authorization: `Bearer ${TOKEN}` } : {} })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${(await response.text()).trim()}`)
  return response.json()
}

function element(tag, text, attributes = {}) {
  const node = document.createElement(tag)
  if (text !== undefined) node.textContent = String(text)
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value)
  return node
}

const seconds = (value) => value.toFixed(6)
/** A long path's last folders, `…/` before them; the cell's title holds all of it. */
const shortPath = (path) => (path.length <= 32 ? path : `…/${path.split('/').slice(-2).join('/')}`)
const calls = (value, exact) => (exact ? String(value) : `${value}~`)
const where = (stat) => (stat.module ? `${shortPath(stat.module)}:${stat.line}` : '')

function bytes(value) {
  const units = ['B', 'KiB', 'MiB', 'GiB']
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

function selection() {
  return { thread: state.thread, tag: state.tag }
}

function renderStats(stats) {
  const rows = stats.functions.map((stat) => {
    const tr = element('tr', undefined, { 'data-id': String(stat.id) })
    if (stat.id === state.selected) tr.classList.add('selected')
    const cells = [
      [stat.name, 'name'],
      [shortPath(stat.module), 'module', stat.module],
      [stat.line, 'num'],
      [calls(stat.ncall, stat.callsExact), 'num'],
      [calls(stat.nactualcall, stat.nactualcallExact), 'num'],
      [seconds(stat.ttot), 'num'],
      [seconds(stat.tsub), 'num'],
      [seconds(stat.tavg), 'num'],
      [stat.samples, 'num'],
    ]
    for (const [text, kind, title = text] of cells) tr.append(element('td', text, { class: kind, title: String(title) }))
    tr.addEventListener('click', () => select(stat.id))
    return tr
  })
  $('stats').tBodies[0].replaceChildren(...rows)
  for (const th of $('stats').tHead.rows[0].cells) {
    th.setAttribute('aria-sort', th.dataset.sort === state.sort ? (state.order === 'asc' ? 'ascending' : 'descending') : 'none')
  }
  const partial = stats.partial ? ` · PARTIAL: ${stats.droppedSamples} samples dropped (memory budget full)` : ''
  $('stats-note').textContent = `(${stats.clock} clock, ${Math.min(stats.count, state.limit)} of ${stats.count}; ~: estimated from samples)${partial}`
}

/** A table's head and body: `rows` are lists of cell texts, or [cells, id] to make a row clickable. */
function tableParts(titles, rows, onClick) {
  const head = element('tr')
  for (const title of titles) head.append(element('th', title))
  const body = element('tbody')
  for (const { cells, id } of rows) {
    const tr = element('tr')
    for (const text of cells) tr.append(element('td', text, { title: String(text) }))
    if (id !== undefined) tr.addEventListener('click', () => onClick(id))
    body.append(tr)
  }
  if (rows.length === 0) {
    const empty = element('tr')
    empty.append(element('td', 'none', { colspan: String(titles.length), class: 'muted' }))
    body.append(empty)
  }
  const thead = element('thead')
  thead.append(head)
  return [thead, body]
}

function edgeTable(edges) {
  const rows = edges.map((edge) => ({
    id: edge.id,
    cells: [edge.name, where(edge), calls(edge.ncall, false), seconds(edge.ttot), seconds(edge.tsub), seconds(edge.tavg), edge.samples],
  }))
  return tableParts(['name', 'where', 'ncall', 'ttot', 'tsub', 'tavg', 'samples'], rows, select)
}

async function renderDetail() {
  if (state.selected === undefined) return
  let stat
  try {
    stat = await api('function', { id: state.selected, ...selection() })
  } catch {
    // Gone from these stats (cleared, or another thread picked): nothing is selected then.
    state.selected = undefined
    $('detail').hidden = true
    return
  }
  $('detail-name').textContent = stat.name
  $('detail-where').textContent = where(stat)
  $('callers').replaceChildren(...edgeTable(stat.callers))
  $('callees').replaceChildren(...edgeTable(stat.callees))
  $('detail').hidden = false
}

function select(id) {
  state.selected = id
  for (const tr of $('stats').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.id === String(id))
  renderDetail().catch(showError)
}

/** Replaces a picker's options, keeping the first ("all") and the current choice. */
function fillPicker(select, values) {
  const current = select.value
  const all = select.options[0]
  const options = values.map(([value, label]) => element('option', label, { value }))
  select.replaceChildren(all, ...options)
  select.value = values.some(([value]) => value === current) ? current : ''
}

function renderThreads({ threads }) {
  fillPicker($('thread'), threads.map((thread) => [String(thread.id), `${thread.name} (#${thread.id})`]))
  const rows = threads.map((thread) => ({
    cells: [`${thread.name} #${thread.id}`, thread.wallTime.toFixed(3), thread.cpuTime.toFixed(3), thread.idleTime.toFixed(3), thread.samples],
  }))
  $('threads').replaceChildren(...tableParts(['thread', 'wall', 'cpu', 'idle', 'samples'], rows))
}

function renderList(dl, entries) {
  dl.replaceChildren(...entries.flatMap(([term, value]) => [element('dt', term), element('dd', value)]))
}

function renderMemory(memory) {
  renderList($('memory'), [
    ['used', `${bytes(memory.usedBytes)} of ${bytes(memory.maxBytes)}`],
    ['peak', bytes(memory.peakBytes)],
    ['functions', memory.functions],
    ['dropped samples', memory.droppedSamples],
    ['dropped functions', memory.droppedFunctions],
  ])
}

function renderOverhead(overhead) {
  renderList($('overhead'), [
    ['all threads', `${overhead.percent.toFixed(2)} % (${overhead.profilerTime.toFixed(3)} s of ${overhead.runTime.toFixed(1)} s)`],
    ...overhead.threads.map((thread) => [`${thread.name} #${thread.threadId}`, `${thread.percent.toFixed(2)} %`]),
  ])
}

function link(label, href, download = false) {
  const li = element('li')
  li.append(element('a', label, download ? { href, download: '' } : { href }))
  return li
}

function renderDownloads() {
  const thread = state.thread || '0'
  $('downloads').replaceChildren(
    ...EXPORTS.map(([format, label]) => link(label, apiUrl(`export/${format}`, { thread: format === 'cpuprofile' ? thread : state.thread }), true)),
    link('stats as a table (text)', apiUrl('stats', { format: 'text', ...selection(), sort: state.sort, order: state.order })),
  )
}

function renderStalls({ stalls, dropped }) {
  const newest = [...stalls].reverse()
  const rows = newest.map((stall) => ({
    id: stall.id,
    cells: [
      new Date(stall.start).toLocaleTimeString(),
      `${stall.threadName} #${stall.threadId}`,
      stall.durationMs.toFixed(1),
      stall.tag ?? '',
      stall.functions[0] ? `${stall.functions[0].name} ${where(stall.functions[0])}` : '',
      stall.functions[0] ? `${(stall.functions[0].share * 100).toFixed(1)} %` : '',
    ],
  }))
  $('stalls').replaceChildren(...tableParts(['when', 'thread', 'ms', 'tag', 'top function', 'share'], rows, (id) => loadFlame(id)))
  for (const [at, tr] of [...$('stalls').tBodies[0].rows].entries()) {
    if (newest[at]) tr.dataset.stall = String(newest[at].id)
  }
  $('stalls-note').textContent = `(${stalls.length} held${dropped ? `, ${dropped} dropped` : ''}; event loop blocked; click one for its flame graph)`
}

/** Draws the flame graph of the selected thread, or of stall `stall` alone. */
function loadFlame(stall) {
  const path = stall === undefined ? apiUrl('export/speedscope', { thread: state.thread }) : apiUrl('stall/speedscope', { id: stall })
  $('flame-of').textContent = stall === undefined ? '' : `of stall ${stall}`
  const profile = new URL(path, location.href).href
  const hash = new URLSearchParams({ profileURL: profile, view: 'left-heavy' })
  // A new query makes the frame load again: speedscope reads its hash only when it starts.
  $('flame').src = `assets/speedscope/index.html?load=${++state.flameLoads}#${hash}`
}

function showError(error) {
  $('error').textContent = String(error instanceof Error ? error.message : error)
  $('error').hidden = false
}

async function refresh() {
  try {
    const [stats, threads, tags, memory, overhead, status, stalls] = await Promise.all([
      api('stats', { sort: state.sort, order: state.order, limit: state.limit, ...selection() }),
      api('threads'),
      api('tags', { thread: state.thread }),
      api('memory'),
      api('overhead'),
      api('status'),
      api('stalls', { thread: state.thread }),
    ])
    renderStats(stats)
    renderThreads(threads)
    renderStalls(stalls)
    fillPicker($('tag'), tags.tags.map((tag) => [tag.tag, tag.tag]))
    renderMemory(memory)
    renderOverhead(overhead)
    renderDownloads()
    $('status').textContent = status.running ? `profiling (${status.clock} clock) · pid ${status.pid} · ${status.node}` : `stopped · pid ${status.pid}`
    $('status').classList.toggle('stopped', !status.running)
    $('updated').textContent = `updated ${new Date().toLocaleTimeString()}`
    $('error').hidden = true
    await renderDetail()
  } catch (error) {
    showError(error)
  }
}

function schedule() {
  clearTimeout(state.timer)
  const every = Number($('refresh').value)
  if (every > 0) state.timer = setTimeout(() => refresh().finally(schedule), every)
}

function onPick() {
  state.thread = $('thread').value
  state.tag = $('tag').value
  state.limit = Number($('limit').value)
  refresh().finally(schedule)
}

for (const th of $('stats').tHead.rows[0].cells) {
  th.addEventListener('click', () => {
    const key = th.dataset.sort
    state.order = key === state.sort ? (state.order === 'asc' ? 'desc' : 'asc') : TEXT_KEYS.has(key) ? 'asc' : 'desc'
    state.sort = key
    refresh().finally(schedule)
  })
}
$('thread').addEventListener('change', () => {
  onPick()
  loadFlame()
})
$('tag').addEventListener('change', onPick)
$('limit').addEventListener('change', onPick)
$('refresh').addEventListener('change', schedule)
$('flame-reload').addEventListener('click', () => loadFlame())
if (TOKEN) {
  $('controls').hidden = false
  for (const button of $('controls').querySelectorAll('button')) {
    button.addEventListener('click', () => {
      api(button.dataset.action, {}, 'POST')
        .then(() => refresh())
        .catch(showError)
    })
  }
}

refresh().finally(schedule)
loadFlame()
