// A small TypeScript consumer of the package, type-checked against index.d.ts by
// `tsc --noEmit` (npm test). It is never run.
import {
  applyEvent,
  canTransition,
  compose,
  composeSync,
  listPresets,
  listTemplates,
  mockup,
  preflight,
  render,
  RenderEngine,
  type Composition,
  type EngineOptions,
  type HttpDesignOptions,
  type JobEvent,
  type JobOutput,
  type JobPreflight,
  type MigrationReport,
  type OutputKind,
  type PreflightReport,
  type ProgressEvent,
  type RenderEngineError,
  type RenderJob,
  type TemplateInfo,
} from '../../index.js'

export async function medusaModule(design: Buffer, photo: Buffer): Promise<RenderJob> {
  const controller = new AbortController()
  const composition: Composition = await compose(design, { preset: 'chest-large', color: '#1f2937' }, controller.signal)
  const bytes: Buffer = composition.printFile
  const report: PreflightReport = await preflight(design)
  const dpi: number = report.effective_dpi.x + composition.preflight.print_dpi + bytes.length
  const sync = composeSync(design)
  const rendered = await render(design, { stills: ['front'], turntable: ['mp4'] })
  const front: Buffer | undefined = rendered.stills.front ?? rendered.turntableMp4
  const images: Buffer[] = await mockup(
    design,
    { image: photo, printArea: { quad: [[0, 0], [10, 0], [10, 10], [0, 10]], widthIn: 12, heightIn: 12 } },
    { colors: ['#ffffff'], format: 'jpeg', quality: 90 },
  )
  const presetIds: string[] = listPresets().map((p) => p.id)
  const packPresets: string[] = listPresets('/srv/templates/oversized-tee').map((p) => p.id)
  const packs: TemplateInfo[] = listTemplates(['/srv/templates/oversized-tee'])
  const onPack = await compose(design, { template: '/srv/templates/oversized-tee', preset: 'back-small' })

  const engine = await RenderEngine.open({ database: 'sqlite:///tmp/jobs.db', dataDir: '/tmp/data', concurrency: 2, jobTimeoutMs: 60_000 })
  // A Medusa store whose designs are uploaded to a file service on the private network.
  const http: HttpDesignOptions = { allowRanges: ['10.0.0.0/8'], timeoutMs: 10_000, maxRedirects: 2 }
  const options: EngineOptions = {
    database: 'postgres://medusa@db/medusa',
    dataDir: '/var/lib/render',
    httpDesigns: http,
    templates: ['/srv/templates/oversized-tee'],
  }
  const shop = await RenderEngine.open(options)
  const publicOnly = await RenderEngine.open({ database: 'memory:', dataDir: '/tmp/d', httpDesigns: true })
  // @ts-expect-error httpDesigns is a boolean or an HttpDesignOptions object
  await RenderEngine.open({ database: 'memory:', dataDir: '/tmp/d', httpDesigns: 'yes' })
  // @ts-expect-error templates is an array of pack folders
  await RenderEngine.open({ database: 'memory:', dataDir: '/tmp/d', templates: '/srv/templates/oversized-tee' })
  const shopPacks: string[] = shop.listTemplates().map((t) => t.id)
  const fromUrl: RenderJob = await shop.createJob({
    product_id: 'prod_1',
    preset: 'chest-large',
    template_id: 'oversized-tee',
    design: 'http://10.0.3.7:9000/static/design.png',
  })
  void [publicOnly, shopPacks, fromUrl, packPresets, packs, onPack]

  const unsubscribe: () => void = engine.onProgress((event: ProgressEvent) => {
    const pct: number = event.percent
    const id: string = event.job_id
    void pct
    void id
  })
  unsubscribe()
  const listener = (event: ProgressEvent): void => void event
  engine.onProgress(listener)
  engine.offProgress(listener)
  engine.offProgress()
  // Migrations as a deployment step; processes that start often only check the schema.
  const migrated: MigrationReport = await RenderEngine.migrate({ database: 'postgres://medusa@db/medusa' })
  const applied: number[] = migrated.applied
  const checked = await RenderEngine.open({ database: 'postgres://medusa@db/medusa', dataDir: '/d', migrate: false })
  // A plugin serving outputs through its own route.
  const finished: RenderJob = await checked.getJob('rjob_1')
  const outputs: JobOutput[] = finished.outputs ?? []
  const kinds: OutputKind[] = outputs.map((o) => o.kind)
  const frontOutput = outputs.find((o) => o.kind === 'still_front')
  const frontBytes: Buffer = await checked.readOutput(finished.id, frontOutput?.name ?? 'front.png')
  const frontUrl: string = await checked.outputUrl(finished.id, 'front.png')
  const checks: JobPreflight | null | undefined = finished.preflight
  const worst: string | undefined = checks?.warnings[0]?.severity
  const recent = await checked.listJobs({ completed_after: '2026-01-01T00:00:00Z', statuses: ['completed'] })
  // @ts-expect-error an output kind is one of the documented names
  const wrongKind: OutputKind = 'poster'
  void [applied, kinds, frontBytes, frontUrl, worst, recent, wrongKind]
  engine.start()
  const job: RenderJob = await engine.createJob({ product_id: 'prod_1', preset: 'chest-large', design, metadata: { a: 1 } })
  const byUrl: RenderJob = await engine.createJob({ product_id: 'prod_1', preset: 'back-small', design: 'file:///designs/a.png' })
  const page = await engine.listJobs({ product_id: 'prod_1', statuses: ['pending', 'failed'] })
  const next: string | null = page.next_cursor
  const event: JobEvent = { type: 'fail', code: 'E_IO', message: 'disk full' }
  const failed: RenderJob = applyEvent(job, event, new Date())
  const ok: boolean = canTransition(failed.status, 'pending')
  await engine.stop(1000)
  try {
    await engine.getJob(byUrl.id)
  } catch (e) {
    const err = e as RenderEngineError
    const code: string = err.code
    void code
  }
  void [dpi, sync, front, images, presetIds, next, ok]
  return failed
}
