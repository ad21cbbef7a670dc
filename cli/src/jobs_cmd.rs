//! `render-engine jobs`: the admin's view of the queue.

use render_engine::store::{JobFilter, StoredJob};
use render_engine::{Error, JobId, JobStatus, Result};

use crate::Global;

/// Arguments of `render-engine jobs`.
#[derive(Debug, clap::Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub action: JobsAction,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// What to do with the jobs.
#[derive(Debug, clap::Subcommand)]
pub enum JobsAction {
    /// List jobs, newest first.
    List {
        /// Only jobs in this status (repeatable).
        #[arg(long)]
        status: Vec<String>,
        /// Only jobs of this product.
        #[arg(long)]
        product: Option<String>,
        /// At most this many jobs.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one job.
    Show {
        /// The job id (`rjob_...`).
        id: String,
    },
    /// Retry a failed job.
    Retry {
        /// The job id.
        id: String,
    },
    /// Cancel a job (at once when pending, at the next heartbeat when running).
    Cancel {
        /// The job id.
        id: String,
    },
    /// Soft-delete a finished job.
    Delete {
        /// The job id.
        id: String,
    },
}

/// Runs the action against the store named by the global options.
pub fn run(global: &Global, args: JobsArgs) -> Result<()> {
    crate::runtime()?.block_on(async {
        let store = render_engine::open_store(&global.store_config().effective_store_url()).await?;
        let id = |s: &str| JobId::parse(s);
        match args.action {
            JobsAction::List {
                status,
                product,
                limit,
            } => {
                let statuses = status
                    .iter()
                    .map(|s| s.parse::<JobStatus>())
                    .collect::<Result<Vec<_>>>()?;
                let mut filter = JobFilter::new().with_statuses(statuses).with_limit(limit);
                if let Some(product) = product {
                    filter = filter.with_product(product);
                }
                let page = store.list(&filter).await?;
                if args.json {
                    let jobs = page.jobs.iter().map(job_json).collect::<Result<Vec<_>>>()?;
                    println!("{}", to_json(&jobs)?);
                } else {
                    println!(
                        "{:<32} {:<11} {:<18} {:>7} {:<16} {:<16}",
                        "ID", "STATUS", "PRESET", "ATTEMPT", "PRODUCT", "PROGRESS"
                    );
                    for j in &page.jobs {
                        let progress = j
                            .progress
                            .as_ref()
                            .map(|p| format!("{} {}%", p.stage, p.percent))
                            .unwrap_or_else(|| "-".into());
                        println!(
                            "{:<32} {:<11} {:<18} {:>3}/{:<3} {:<16} {:<16}",
                            j.job.id.as_str(),
                            j.job.status.as_str(),
                            j.job.preset.to_string(),
                            j.job.attempt,
                            j.job.max_attempts,
                            j.job.product_id,
                            progress
                        );
                    }
                }
                Ok(())
            }
            JobsAction::Show { id: s } => print_job(&store.get(&id(&s)?).await?, args.json),
            JobsAction::Retry { id: s } => print_job(&store.retry(&id(&s)?).await?, args.json),
            JobsAction::Cancel { id: s } => print_job(&store.cancel(&id(&s)?).await?, args.json),
            JobsAction::Delete { id: s } => print_job(&store.delete(&id(&s)?).await?, args.json),
        }
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value)
        .map_err(|e| Error::Internal(format!("cannot print the job as JSON: {e}")))
}

/// A stored job as JSON: its record and queue columns, plus its typed `outputs` (empty
/// until it completed) and `preflight` findings (`null` until recorded).
fn job_json(job: &StoredJob) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(job)
        .map_err(|e| Error::Internal(format!("cannot print the job as JSON: {e}")))?;
    if let serde_json::Value::Object(fields) = &mut value {
        let extra = |v: Result<serde_json::Value, serde_json::Error>| {
            v.map_err(|e| Error::Internal(format!("cannot print the job as JSON: {e}")))
        };
        fields.insert(
            "outputs".into(),
            extra(serde_json::to_value(job.outputs()))?,
        );
        fields.insert(
            "preflight".into(),
            extra(serde_json::to_value(job.preflight()))?,
        );
    }
    Ok(value)
}

/// Prints a job as JSON or as `field: value` lines.
pub fn print_job(job: &StoredJob, json: bool) -> Result<()> {
    if json {
        println!("{}", to_json(&job_json(job)?)?);
        return Ok(());
    }
    let j = &job.job;
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    println!("id:         {}", j.id.as_str());
    println!("status:     {}", j.status.as_str());
    println!("product:    {}", j.product_id);
    println!("preset:     {}", j.preset);
    println!("attempt:    {}/{}", j.attempt, j.max_attempts);
    println!("design:     {}", j.design_file_url);
    println!("atlas:      {}", opt(&j.composited_file_url));
    println!("render:     {}", opt(&j.rendered_image_url));
    println!("animation:  {}", opt(&j.animation_url));
    if let Some(p) = &job.progress {
        let eta = p
            .eta_seconds
            .map(|s| format!(", about {s:.0} s left"))
            .unwrap_or_default();
        println!(
            "progress:   {} {}% ({}){eta}, at {}",
            p.stage,
            p.percent,
            p.message,
            p.updated_at.to_rfc3339()
        );
    }
    for o in job.outputs() {
        println!(
            "output:     {:<18} {:<20} {:>10} bytes  {}",
            o.name,
            o.kind.as_str(),
            o.size,
            o.url
        );
    }
    if let Some(p) = job.preflight() {
        println!(
            "preflight:  {:.0} x {:.0} effective DPI (print {} DPI), {}",
            p.effective_dpi.x,
            p.effective_dpi.y,
            p.print_dpi,
            match p.warnings.len() {
                0 => "no warnings".to_string(),
                1 => "1 warning".to_string(),
                n => format!("{n} warnings"),
            }
        );
        for w in &p.warnings {
            println!(
                "warning:    [{}] {}: {}",
                w.code,
                w.severity.as_str(),
                w.message
            );
        }
    }
    if let Some(code) = &j.error_code {
        println!("error:      [{code}] {}", opt(&j.error_message));
    }
    for e in &job.errors {
        println!(
            "attempt {}:  [{}] {} (at {})",
            e.attempt,
            e.code,
            e.message,
            e.at.to_rfc3339()
        );
    }
    Ok(())
}
