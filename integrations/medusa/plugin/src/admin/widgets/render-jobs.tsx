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
  progress: { stage: string; percent: number; message: string; eta_ms: number | null } | null
  attachment: { image_urls: string[] } | null
}
type Preflight = { effective_dpi: number; warnings: Warning[] }

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

function ProgressBar({ percent, label }: { percent: number; label: string }) {
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(percent)}
      className="bg-ui-bg-subtle h-2 w-full overflow-hidden rounded-full"
    >
      <div className="bg-ui-fg-interactive h-full transition-all" style={{ width: `${percent}%` }} />
    </div>
  )
}

const RenderJobsWidget = ({ data: product }: DetailWidgetProps<AdminProduct>) => {
  const ids = { file: useId(), preset: useId(), color: useId(), template: useId(), status: useId() }
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

  const form = (f: File) => {
    const fd = new FormData()
    fd.append("design", f)
    fd.append("preset", preset)
    fd.append("color", color)
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
  }, [file, preset, color, templateId])

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
      const fd = form(file)
      fd.append("product_id", product.id)
      await api("/admin/render-jobs", { method: "POST", body: fd })
      setNotice("Render started. The images are added to the product's media when it completes.")
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
          <div className="flex flex-col gap-y-1">
            <Label htmlFor={ids.color}>Garment colour</Label>
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
            Start render
          </Button>
        </div>
      </div>

      <div className="px-6 py-4">
        <Heading level="h3" className="mb-2">
          Render jobs
        </Heading>
        {jobs.length === 0 ? (
          <Text size="small" className="text-ui-fg-subtle">
            No renders for this product yet.
          </Text>
        ) : (
          <ul className="flex flex-col gap-y-3" aria-label="Render jobs">
            {jobs.map((job) => {
              const front = job.outputs.find((o) => o.name === "front.png")?.url
              const webp = job.outputs.find((o) => o.name === "turntable.webp")?.url
              const percent = job.status === "completed" ? 100 : job.progress?.percent ?? 0
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
                        {job.metadata?.design_name ?? job.id} · {job.preset} · {String(job.metadata?.color ?? "#ffffff")}
                      </Text>
                    </div>
                    {ACTIVE.has(job.status) && (
                      <>
                        <ProgressBar percent={percent} label={`Progress of render ${job.id}`} />
                        <Text size="xsmall" className="text-ui-fg-subtle">
                          {job.progress?.message ?? "waiting for a worker"}
                          {job.progress?.eta_ms != null ? ` · about ${Math.ceil(job.progress.eta_ms / 1000)} s left` : ""}
                        </Text>
                      </>
                    )}
                    {job.status === "completed" && (
                      <Text size="xsmall" className="text-ui-fg-subtle">
                        {job.attachment ? `${job.attachment.image_urls.length} images added to the product's media` : "adding to the product's media…"}
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
                      <Text size="xsmall" className="text-ui-fg-error" role="alert">
                        {job.error_code}: {job.error_message}
                      </Text>
                    )}
                    <div className="flex gap-x-2">
                      {job.status === "failed" && job.attempt < job.max_attempts && (
                        <Button size="small" variant="secondary" onClick={() => act(job, "retry")}>
                          Retry
                        </Button>
                      )}
                      {ACTIVE.has(job.status) && (
                        <Button size="small" variant="secondary" onClick={() => act(job, "cancel")}>
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
