// A small TypeScript consumer of the package, type-checked against index.d.ts by
// `tsc --noEmit` (npm test). It is never run.
import {
  applyEvent,
  canTransition,
  compose,
  composeSync,
  listPresets,
  mockup,
  preflight,
  render,
  RenderEngine,
  type Composition,
  type JobEvent,
  type PreflightReport,
  type ProgressEvent,
  type RenderEngineError,
  type RenderJob,
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

  const engine = await RenderEngine.open({ database: 'sqlite:///tmp/jobs.db', dataDir: '/tmp/data', concurrency: 2, jobTimeoutMs: 60_000 })
  engine.onProgress((event: ProgressEvent) => {
    const pct: number = event.percent
    const id: string = event.job_id
    void pct
    void id
  })
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
