//! `render-engine submit`: stores a design and creates a pending job.

use std::path::PathBuf;

use render_engine::{
    DesignSource, Engine, GarmentColor, JobStatus, Preset, Result, Stage, Submission,
};

use crate::Global;

/// Arguments of `render-engine submit`.
#[derive(Debug, clap::Args)]
pub struct SubmitArgs {
    /// The design: PNG, JPEG, WebP or SVG; a file, or an http(s):// URL (downloaded
    /// with the engine's checks: public addresses only, 20 s, the size limit).
    pub design: PathBuf,
    /// The Medusa product id.
    #[arg(long)]
    pub product: String,
    /// The placement preset: chest-large, dead-center-medium or back-small.
    #[arg(long, default_value = "chest-large")]
    pub preset: String,
    /// The garment: a built-in template id (`render-engine templates` lists them) or a
    /// template pack folder (workers must be given the same folder with --template-pack).
    #[arg(long, default_value = render_engine::template::BUILTIN_ID)]
    pub template: String,
    /// The Medusa variant id.
    #[arg(long)]
    pub variant: Option<String>,
    /// The garment colour, #rrggbb.
    #[arg(long)]
    pub color: Option<String>,
    /// Submissions with the same key make one job.
    #[arg(long)]
    pub idempotency_key: Option<String>,
    /// Work on the job in this process and show its progress until it ends.
    #[arg(long)]
    pub wait: bool,
    /// Print the job as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Submits the design; with `--wait`, runs a worker until the job ends.
pub fn run(global: &Global, args: SubmitArgs) -> Result<()> {
    let preset = Preset::parse_field(&args.preset, "preset")?;
    let color = args
        .color
        .as_deref()
        .map(|c| GarmentColor::parse_field(c, "color"))
        .transpose()?;
    let template = render_engine::TemplatePack::named(&args.template)?;
    let text = args.design.to_string_lossy();
    let remote = text.starts_with("http://") || text.starts_with("https://");
    let (source, config) = if remote {
        (
            DesignSource::Url(text.into_owned()),
            global
                .config()?
                .with_http_designs(render_engine::HttpDesigns::enabled()),
        )
    } else {
        let config = global.config()?;
        let limits = render_engine::DecodeLimits::default().with_max_bytes(config.max_design_bytes);
        let bytes = render_engine::read_design_file(&args.design, &limits)?;
        (DesignSource::Bytes(bytes), config)
    };
    // A pack folder is offered to this engine (unless --template-pack named it already).
    let config =
        if template.dir().is_some() && !config.templates.iter().any(|t| t.id() == template.id()) {
            config.with_template(template.clone())
        } else {
            config
        };
    crate::runtime()?.block_on(async {
        let engine = Engine::open(config).await?;
        let mut submission =
            Submission::new(&args.product, preset, source).with_template(template.id());
        if let Some(color) = color {
            submission = submission.with_color(color);
        }
        if let Some(variant) = &args.variant {
            submission = submission.with_variant(variant);
        }
        if let Some(key) = &args.idempotency_key {
            submission = submission.with_idempotency_key(key);
        }
        let created = engine.submit(submission).await?;
        let id = created.job.id().clone();
        eprintln!(
            "{} job {id}",
            if created.created {
                "created"
            } else {
                "existing"
            }
        );
        let mut job = created.job;
        if args.wait && !job.job.status.is_terminal() {
            let mut events = engine.subscribe();
            let workers = engine.start();
            loop {
                match events.recv().await {
                    Ok(e) if e.job_id == id => {
                        let eta = e
                            .eta
                            .map(|d| format!(", about {:.0} s left", d.as_secs_f64()))
                            .unwrap_or_default();
                        eprintln!("{:>3}% {}{eta}", e.percent, e.message);
                        if matches!(e.stage, Stage::Completed | Stage::Failed | Stage::Cancelled) {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            workers.shutdown(std::time::Duration::from_secs(10)).await?;
            job = engine.job(&id).await?;
        }
        crate::jobs_cmd::print_job(&job, args.json)?;
        if job.job.status == JobStatus::Failed {
            return Err(render_engine::Error::render_failed(format!(
                "job {id} failed: {}",
                job.job.error_message.unwrap_or_default()
            )));
        }
        Ok(())
    })
}
