// Small Markdown helpers for the documentation tests (no dependencies).

/**
 * The fenced code blocks of `markdown` whose info string's language is exactly `lang`
 * (```js, not ```jsx or ```json), in order, each as `{ code, line }` (`line`: the
 * 1-based line of the opening fence). Fences are ``` or ~~~, three or more, indented by
 * at most three spaces; a block ends at a closing fence of the same character at least
 * as long, or at the end of the document.
 */
export function codeBlocks(markdown, lang) {
  const blocks = []
  const lines = markdown.split(/\r?\n/)
  let open = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (open) {
      const close = line.match(/^ {0,3}(`{3,}|~{3,})\s*$/)
      if (close && close[1][0] === open.fence[0] && close[1].length >= open.fence.length) {
        if (open.lang === lang) blocks.push({ code: open.body.join('\n') + '\n', line: open.line })
        open = null
      } else {
        open.body.push(line)
      }
      continue
    }
    const start = line.match(/^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/)
    if (start) open = { fence: start[1], lang: start[2].split(',')[0], body: [], line: i + 1 }
  }
  if (open && open.lang === lang) blocks.push({ code: open.body.join('\n') + '\n', line: open.line })
  return blocks
}

/** `markdown` with fenced code blocks and inline code spans blanked out. */
export function withoutCode(markdown) {
  const lines = markdown.split(/\r?\n/)
  let fence = null
  const kept = lines.map((line) => {
    const marker = line.match(/^ {0,3}(`{3,}|~{3,})/)
    if (fence) {
      if (marker && marker[1][0] === fence[0] && marker[1].length >= fence.length && /^ {0,3}(`{3,}|~{3,})\s*$/.test(line)) fence = null
      return ''
    }
    if (marker) {
      fence = marker[1]
      return ''
    }
    return line
  })
  return kept.join('\n').replace(/(`+)[\s\S]*?\1/g, '')
}

/** The targets of the inline links and images of `markdown` (outside code), with their line. */
export function linkTargets(markdown) {
  const text = withoutCode(markdown)
  const targets = []
  const re = /!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g
  for (const m of text.matchAll(re)) {
    const line = text.slice(0, m.index).split('\n').length
    targets.push({ target: m[1], line })
  }
  return targets
}

/** The anchors GitHub gives the headings of `markdown` (`## The state machine` -> `the-state-machine`). */
export function headingAnchors(markdown) {
  const anchors = new Set()
  const seen = new Map()
  const lines = markdown.split(/\r?\n/)
  let fence = null
  for (const line of lines) {
    const marker = line.match(/^ {0,3}(`{3,}|~{3,})/)
    if (fence) {
      if (marker && marker[1][0] === fence[0] && marker[1].length >= fence.length) fence = null
      continue
    }
    if (marker) {
      fence = marker[1]
      continue
    }
    const h = line.match(/^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/)
    if (!h) continue
    const base = h[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    anchors.add(n === 0 ? base : `${base}-${n}`)
  }
  return anchors
}
