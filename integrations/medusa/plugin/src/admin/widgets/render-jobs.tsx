import { defineWidgetConfig } from "@medusajs/admin-sdk"
import type { DetailWidgetProps, AdminProduct } from "@medusajs/framework/types"
import {
  Badge,
  Button,
  Container,
  Heading,
  Input,
  Label,
  Select,
  StatusBadge,
  Text,
} from "@medusajs/ui"
import { useCallback, useEffect, useId, useRef, useState } from "react"

type Preset = { id: string; panel: string; width_in: number; height_in: number }
type Template = { id: string; name: string; presets: Preset[] }
type Config = { templates: Template[]; max_design_bytes: number; accepted_types: string[] }
type Warning = { code: string; severity: string; message: string }
type Output = { name: string; kind: string; url: string | null; content_type: string; size: number }
type Job = {
  id: string
  status: "pending" | "compositing" | "rendering" | "completed" | "failed" | "cancelled"
  preset: string
  template_id: string | null
  error_code: string | null
  error_message: string | null
  attempt: number
  max_attempts: number
  created_at: string
  metadata: { color?: string; design_name?: string } & Record<string, unknown>
  rendered_image_url: string | null
  animation_url: string | null
  outputs: Output[]
  preflight: { warnings: Warning[]; effective_dpi: { x: number; y: number } } | null
  progress: {
    attempt: number
    stage: string
    percent: number
    message: string
    eta_seconds: number | null
    updated_at: string
  } | null
  errors: { attempt: number; code: string; message: string; at: string }[]
  attachment: { image_urls: string[]; variant_ids?: string[] } | null
}
type Preflight = { effective_dpi: number; warnings: Warning[] }
type ColorChoice = { value: string; hex: string; variant_count: number }
type Colors = { option: { id: string; title: string } | null; colors: ColorChoice[]; problem: string | null }

const STAGES: Record<string, string> = {
  claimed: "Starting",
  compositing: "Placing the design",
  rendering: "Rendering",
  encoding: "Encoding the turntable",
  storing: "Saving the outputs",
}

function stageLabel(stage: string) {
  return STAGES[stage] ?? stage.charAt(0).toUpperCase() + stage.slice(1)
}

function etaText(seconds: number | null | undefined) {
  if (seconds == null) return null
  if (seconds < 1) return "less than a second left"
  if (seconds < 90) return `about ${Math.ceil(seconds)} s left`
  return `about ${Math.round(seconds / 60)} min left`
}

const ACTIVE = new Set(["pending", "compositing", "rendering"])
const STATUS_COLOR = {
  pending: "grey",
  compositing: "blue",
  rendering: "blue",
  completed: "green",
  failed: "red",
  cancelled: "orange",
} as const

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, { credentials: "include", ...init })
  const body = await res.json().catch(() => ({}))
  if (!res.ok) {
    const code = body?.code && String(body.code).startsWith("E_") ? `${body.code}: ` : ""
    throw new Error(`${code}${body?.message ?? `request failed (${res.status})`}`)
  }
  return body as T
}

function formatBytes(n: number) {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`
}

/** The job's progress: a labelled bar (percent, stage and ETA for screen readers too). */
function JobProgressBar({ job, label }: { job: Job; label: string }) {
  const p = job.progress
  const percent = Math.max(0, Math.min(100, Math.round(p?.percent ?? 0)))
  const stage = p ? stageLabel(p.stage) : job.status === "pending" ? "Waiting for a worker" : stageLabel(job.status)
  const eta = etaText(p?.eta_seconds)
  const text = [stage, `${percent} %`, eta].filter(Boolean).join(", ")
  return (
    <div className="flex flex-col gap-y-1" data-testid="render-progress">
      <div
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-valuetext={text}
        className="bg-ui-bg-component h-2 w-full overflow-hidden rounded-full border border-ui-border-base"
      >
        <div className="bg-ui-fg-interactive h-full transition-all duration-300" style={{ width: `${percent}%` }} />
      </div>
      <Text size="xsmall" className="text-ui-fg-subtle" aria-hidden="true" data-testid="render-progress-text">
        {stage} · {percent} %{eta ? ` · ${eta}` : ""}
        {p?.message && p.message.toLowerCase() !== stage.toLowerCase() ? ` · ${p.message}` : ""}
        {p && p.attempt > 1 ? ` · attempt ${p.attempt} of ${job.max_attempts}` : ""}
      </Text>
    </div>
  )
}

/** One line for screen readers, announced when it changes (not at every poll). */
function summary(jobs: Job[]) {
  const running = jobs.filter((j) => ACTIVE.has(j.status)).length
  const failed = jobs.filter((j) => j.status === "failed").length
  const done = jobs.filter((j) => j.status === "completed").length
  const parts = [`${jobs.length} render${jobs.length === 1 ? "" : "s"}`]
  if (running) parts.push(`${running} running`)
  if (done) parts.push(`${done} completed`)
  if (failed) parts.push(`${failed} failed`)
  return parts.join(", ")
}

const RenderJobsWidget = ({ data: product }: DetailWidgetProps<AdminProduct>) => {
  const ids = {
    file: useId(),
    preset: useId(),
    color: useId(),
    template: useId(),
    status: useId(),
    scope: useId(),
    colorValue: useId(),
  }
  const [config, setConfig] = useState<Config | null>(null)
  const [file, setFile] = useState<File | null>(null)
  const [templateId, setTemplateId] = useState("classic-tee")
  const [preset, setPreset] = useState("chest-large")
  const [color, setColor] = useState("#ffffff")
  const [preflight, setPreflight] = useState<Preflight | null>(null)
  const [checking, setChecking] = useState(false)
  const [error, setError] = useState<string | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const [starting, setStarting] = useState(false)
  const [dragging, setDragging] = useState(false)
  const [jobs, setJobs] = useState<Job[]>([])
  const [colors, setColors] = useState<Colors | null>(null)
  const [scope, setScope] = useState<"one" | "every">("one")
  const [colorValue, setColorValue] = useState<string>("")
  const inputRef = useRef<HTMLInputElement>(null)

  const loadJobs = useCallback(async () => {
    try {
      const { render_jobs } = await api<{ render_jobs: Job[] }>(
        `/admin/products/${product.id}/render-jobs?limit=20`
      )
      setJobs(render_jobs)
    } catch (e) {
      setError((e as Error).message)
    }
  }, [product.id])

  useEffect(() => {
    api<Config>("/admin/render-templates").then(setConfig, (e) => setError((e as Error).message))
    api<Colors>(`/admin/products/${product.id}/render-colors`).then(
      (c) => {
        setColors(c)
        if (c.colors.length) setColorValue(c.colors[0].value)
      },
      (e) => setError((e as Error).message)
    )
    loadJobs()
  }, [loadJobs])

  // Poll while a job is under way (or was just attached: its media appear in a moment).
  const busy = jobs.some((j) => ACTIVE.has(j.status) || (j.status === "completed" && !j.attachment))
  useEffect(() => {
    if (!busy) return
    const t = setInterval(loadJobs, 1000)
    return () => clearInterval(t)
  }, [busy, loadJobs])

  const template = config?.templates.find((t) => t.id === templateId) ?? config?.templates[0]
  const maxBytes = config?.max_design_bytes ?? 10 * 1024 * 1024
  const accepted = config?.accepted_types ?? ["image/png", "image/jpeg", "image/webp", "image/svg+xml"]

  // With a colour option, colours come from it ("this colour" or "every colour").
  const byOption = !!colors?.colors.length
  const chosen = colors?.colors.find((c) => c.value === colorValue) ?? colors?.colors[0]
  const previewColor = byOption ? chosen?.hex ?? "#ffffff" : color

  const form = (f: File, forJob = false) => {
    const fd = new FormData()
    fd.append("design", f)
    fd.append("preset", preset)
    if (forJob && byOption) {
      if (scope === "every") fd.append("every_color", "true")
      else if (chosen) fd.append("color_value", chosen.value)
    } else {
      fd.append("color", previewColor)
    }
    if (templateId) fd.append("template_id", templateId)
    return fd
  }

  // The preflight, again whenever the design or the placement changes.
  useEffect(() => {
    if (!file) return
    let stale = false
    setChecking(true)
    setPreflight(null)
    api<Preflight>("/admin/render-jobs/preflight", { method: "POST", body: form(file) })
      .then((p) => !stale && (setPreflight(p), setError(null)))
      .catch((e) => !stale && setError((e as Error).message))
      .finally(() => !stale && setChecking(false))
    return () => {
      stale = true
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [file, preset, previewColor, templateId])

  const choose = (f: File | undefined | null) => {
    setNotice(null)
    if (!f) return
    if (!accepted.includes(f.type)) {
      setFile(null)
      setError(`${f.name}: not a PNG, JPEG, WebP or SVG file`)
      return
    }
    if (f.size > maxBytes) {
      setFile(null)
      setError(`${f.name} is ${formatBytes(f.size)}; the limit is ${formatBytes(maxBytes)}`)
      return
    }
    setError(null)
    setFile(f)
  }

  const start = async () => {
    if (!file) return
    setStarting(true)
    setError(null)
    try {
      const fd = form(file, true)
      fd.append("product_id", product.id)
      const created = await api<{ render_job?: Job; render_jobs?: Job[] }>("/admin/render-jobs", { method: "POST", body: fd })
      const n = created.render_jobs?.length ?? 1
      setNotice(
        n > 1
          ? `${n} renders started, one per colour. Each colour's images are added to the product's media and its variants when it completes.`
          : "Render started. The images are added to the product's media when it completes."
      )
      setFile(null)
      setPreflight(null)
      if (inputRef.current) inputRef.current.value = ""
      await loadJobs()
    } catch (e) {
      setError((e as Error).message)
    } finally {
      setStarting(false)
    }
  }

  const act = async (job: Job, action: "retry" | "cancel" | "delete") => {
    setError(null)
    try {
      await api(
        action === "delete" ? `/admin/render-jobs/${job.id}` : `/admin/render-jobs/${job.id}/${action}`,
        { method: action === "delete" ? "DELETE" : "POST" }
      )
      await loadJobs()
    } catch (e) {
      setError((e as Error).message)
    }
  }

  return (
    <Container className="divide-y p-0" aria-labelledby={`${ids.file}-heading`}>
      <div className="flex items-center justify-between px-6 py-4">
        <Heading level="h2" id={`${ids.file}-heading`}>
          Renders
        </Heading>
      </div>

      <div className="flex flex-col gap-y-4 px-6 py-4">
        <div
          role="button"
          tabIndex={0}
          aria-describedby={`${ids.file}-hint`}
          data-testid="render-dropzone"
          onClick={() => inputRef.current?.click()}
          onKeyDown={(e) => {
            if (e.key === "Enter" || e.key === " ") {
              e.preventDefault()
              inputRef.current?.click()
            }
          }}
          onDragOver={(e) => {
            e.preventDefault()
            setDragging(true)
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => {
            e.preventDefault()
            setDragging(false)
            choose(e.dataTransfer.files?.[0])
          }}
          className={`rounded-lg border border-dashed px-4 py-6 text-center outline-none focus-visible:shadow-borders-focus ${
            dragging ? "border-ui-border-interactive bg-ui-bg-highlight" : "border-ui-border-strong"
          }`}
        >
          <Text weight="plus">{file ? file.name : "Drop a design here, or click to choose one"}</Text>
          <Text size="small" className="text-ui-fg-subtle" id={`${ids.file}-hint`}>
            PNG, JPEG, WebP or SVG, up to {formatBytes(maxBytes)}
          </Text>
          <input
            ref={inputRef}
            id={ids.file}
            type="file"
            aria-label="Design file"
            accept={accepted.join(",")}
            className="sr-only"
            tabIndex={-1}
            onClick={(e) => e.stopPropagation()}
            onChange={(e) => choose(e.target.files?.[0])}
          />
        </div>

        <div className="grid grid-cols-1 gap-4 md:grid-cols-3">
          <div className="flex flex-col gap-y-1">
            <Label htmlFor={ids.template}>Template</Label>
            <Select value={templateId} onValueChange={setTemplateId}>
              <Select.Trigger id={ids.template}>
                <Select.Value />
              </Select.Trigger>
              <Select.Content>
                {(config?.templates ?? [{ id: "classic-tee", name: "Classic tee", presets: [] }]).map((t) => (
                  <Select.Item key={t.id} value={t.id}>
                    {t.name}
                  </Select.Item>
                ))}
              </Select.Content>
            </Select>
          </div>
          <div className="flex flex-col gap-y-1">
            <Label htmlFor={ids.preset}>Placement</Label>
            <Select value={preset} onValueChange={setPreset}>
              <Select.Trigger id={ids.preset}>
                <Select.Value />
              </Select.Trigger>
              <Select.Content>
                {(template?.presets ?? [{ id: "chest-large", panel: "front", width_in: 0, height_in: 0 }]).map((p) => (
                  <Select.Item key={p.id} value={p.id}>
                    {p.id} ({p.panel}
                    {p.width_in ? `, ${p.width_in} x ${p.height_in} in` : ""})
                  </Select.Item>
                ))}
              </Select.Content>
            </Select>
          </div>
          {byOption ? (
            <fieldset className="flex flex-col gap-y-1" data-testid="render-color-scope">
              <legend className="txt-compact-small-plus mb-1">{colors?.option?.title ?? "Colour"}</legend>
              <div className="flex items-center gap-x-2">
                <input
                  type="radio"
                  id={`${ids.scope}-one`}
                  name={ids.scope}
                  checked={scope === "one"}
                  onChange={() => setScope("one")}
                />
                <Label htmlFor={`${ids.scope}-one`} className="whitespace-nowrap">
                  This colour
                </Label>
                <Select value={chosen?.value ?? ""} onValueChange={setColorValue} disabled={scope !== "one"}>
                  <Select.Trigger id={ids.colorValue} aria-label={`${colors?.option?.title ?? "Colour"} to render`}>
                    <Select.Value />
                  </Select.Trigger>
                  <Select.Content>
                    {colors!.colors.map((c) => (
                      <Select.Item key={c.value} value={c.value}>
                        <span className="inline-flex items-center gap-x-2">
                          <span aria-hidden="true" className="inline-block h-3 w-3 rounded-full border" style={{ background: c.hex }} />
                          {c.value}
                        </span>
                      </Select.Item>
                    ))}
                  </Select.Content>
                </Select>
              </div>
              <div className="flex items-center gap-x-2">
                <input
                  type="radio"
                  id={`${ids.scope}-every`}
                  name={ids.scope}
                  checked={scope === "every"}
                  onChange={() => setScope("every")}
                />
                <Label htmlFor={`${ids.scope}-every`}>
                  Every colour ({colors!.colors.length} renders, each attached to its colour's variants)
                </Label>
              </div>
            </fieldset>
          ) : (
          <div className="flex flex-col gap-y-1">
            <Label htmlFor={ids.color}>Garment colour</Label>
            {colors?.problem && (
              <Text size="xsmall" className="text-ui-fg-subtle">
                {colors.problem}
              </Text>
            )}
            <div className="flex gap-x-2">
              <input
                type="color"
                aria-label="Garment colour picker"
                value={color}
                onChange={(e) => setColor(e.target.value)}
                className="h-8 w-10 cursor-pointer rounded border"
              />
              <Input
                id={ids.color}
                value={color}
                onChange={(e) => /^#[0-9a-fA-F]{0,6}$/.test(e.target.value) && setColor(e.target.value)}
              />
            </div>
          </div>
          )}
        </div>

        <div aria-live="polite" data-testid="render-preflight">
          {checking && <Text size="small">Checking the design…</Text>}
          {preflight && (
            <div className="flex flex-col gap-y-1">
              <Text size="small">
                Effective resolution: <strong>{preflight.effective_dpi} DPI</strong>{" "}
                {preflight.effective_dpi >= 150 ? "(good for printing)" : "(below the 150 DPI usually needed)"}
              </Text>
              {preflight.warnings.map((w) => (
                <div key={w.code} className="flex items-start gap-x-2">
                  <Badge size="2xsmall" color={w.severity === "severe" ? "red" : w.severity === "warning" ? "orange" : "grey"}>
                    {w.severity}
                  </Badge>
                  <Text size="small">{w.message}</Text>
                </div>
              ))}
            </div>
          )}
        </div>

        {error && (
          <Text size="small" className="text-ui-fg-error" role="alert">
            {error}
          </Text>
        )}
        {notice && (
          <Text size="small" role="status">
            {notice}
          </Text>
        )}

        <div className="flex justify-end">
          <Button onClick={start} disabled={!file || !preflight || starting} isLoading={starting}>
            {byOption && scope === "every" ? `Start ${colors!.colors.length} renders` : "Start render"}
          </Button>
        </div>
      </div>

      <div className="px-6 py-4">
        <Heading level="h3" className="mb-2">
          Render jobs
        </Heading>
        <p className="sr-only" role="status" aria-live="polite" data-testid="render-jobs-summary">
          {summary(jobs)}
        </p>
        {jobs.length === 0 ? (
          <Text size="small" className="text-ui-fg-subtle">
            No renders for this product yet.
          </Text>
        ) : (
          <ul className="flex flex-col gap-y-3" aria-label="Render jobs">
            {jobs.map((job) => {
              const front = job.outputs.find((o) => o.name === "front.png")?.url
              const webp = job.outputs.find((o) => o.name === "turntable.webp")?.url
              const earlier = (job.errors ?? []).filter((e) => !(job.status === "failed" && e.attempt === job.attempt))
              const colorName = (job.metadata?.color_option as { value?: string } | undefined)?.value
              return (
                <li key={job.id} className="flex gap-x-4 rounded-lg border p-3" data-testid="render-job" data-status={job.status}>
                  <div className="flex h-20 w-20 shrink-0 items-center justify-center overflow-hidden rounded bg-ui-bg-subtle">
                    {webp ? (
                      <img src={webp} alt={`Turntable of render ${job.id}`} className="h-full w-full object-cover" />
                    ) : front ? (
                      <img src={front} alt={`Front render of job ${job.id}`} className="h-full w-full object-cover" />
                    ) : null}
                  </div>
                  <div className="flex min-w-0 flex-1 flex-col gap-y-1">
                    <div className="flex items-center gap-x-2">
                      <StatusBadge color={STATUS_COLOR[job.status]}>{job.status}</StatusBadge>
                      <Text size="small" className="truncate text-ui-fg-subtle">
                        {job.metadata?.design_name ?? job.id} · {job.preset} ·{" "}
                        {colorName ? `${colorName} (${String(job.metadata?.color ?? "")})` : String(job.metadata?.color ?? "#ffffff")}
                      </Text>
                    </div>
                    {ACTIVE.has(job.status) && <JobProgressBar job={job} label={`Progress of render ${colorName ? `${colorName} ` : ""}${job.id}`} />}
                    {job.status === "completed" && (
                      <Text size="xsmall" className="text-ui-fg-subtle">
                        {job.attachment
                          ? `${job.attachment.image_urls.length} images added to the product's media${
                              job.attachment.variant_ids?.length
                                ? ` and ${job.attachment.variant_ids.length} variant${job.attachment.variant_ids.length > 1 ? "s" : ""}`
                                : ""
                            }`
                          : "adding to the product's media…"}
                        {job.animation_url && (
                          <>
                            {" · "}
                            <a className="text-ui-fg-interactive" href={job.animation_url} target="_blank" rel="noreferrer">
                              turntable (MP4)
                            </a>
                          </>
                        )}
                      </Text>
                    )}
                    {(job.preflight?.warnings ?? []).filter((w) => w.severity !== "info").map((w) => (
                      <Text key={w.code} size="xsmall" className="text-ui-fg-subtle">
                        {w.code}: {w.message}
                      </Text>
                    ))}
                    {job.status === "failed" && (
                      <Text size="xsmall" className="text-ui-fg-error">
                        Failed{job.attempt > 1 ? ` on attempt ${job.attempt}` : ""}: {job.error_code}: {job.error_message}
                      </Text>
                    )}
                    {earlier.length > 0 && (
                      <details data-testid="render-job-errors">
                        <summary className="txt-compact-xsmall text-ui-fg-subtle cursor-pointer">
                          {earlier.length === 1 ? "1 earlier attempt failed" : `${earlier.length} earlier attempts failed`}
                        </summary>
                        <ul className="mt-1 flex flex-col gap-y-0.5" aria-label={`Earlier attempts of render ${job.id}`}>
                          {earlier.map((e) => (
                            <li key={`${e.attempt}-${e.at}`} className="txt-compact-xsmall text-ui-fg-subtle">
                              Attempt {e.attempt} ({new Date(e.at).toLocaleString()}): {e.code}: {e.message}
                            </li>
                          ))}
                        </ul>
                      </details>
                    )}
                    <div className="flex gap-x-2">
                      {job.status === "failed" && job.attempt < job.max_attempts && (
                        <Button size="small" variant="secondary" onClick={() => act(job, "retry")} aria-label={`Retry render job ${job.id}`}>
                          Retry
                        </Button>
                      )}
                      {ACTIVE.has(job.status) && (
                        <Button size="small" variant="secondary" onClick={() => act(job, "cancel")} aria-label={`Cancel render job ${job.id}`}>
                          Cancel
                        </Button>
                      )}
                      <Button size="small" variant="transparent" onClick={() => act(job, "delete")} aria-label={`Delete render job ${job.id}`}>
                        Delete
                      </Button>
                    </div>
                  </div>
                </li>
              )
            })}
          </ul>
        )}
      </div>
    </Container>
  )
}

export const config = defineWidgetConfig({
  zone: "product.details.after",
})

export default RenderJobsWidget
