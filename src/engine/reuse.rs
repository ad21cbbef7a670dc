//! Identical work is not redone: a job whose inputs match a completed job's gets copies
//! of that job's outputs instead of a new composition and render.
//!
//! The inputs are summed up in a **fingerprint**: the design's content-addressed key
//! (its SHA-256), the template pack (id and manifest), the preset, the garment colour,
//! the output selection, the renderer and its settings, and the library's version. Every completed job records its fingerprint in
//! `metadata.fingerprint`, and the engine keeps a small index blob
//! `reuse/{fingerprint}.json` naming the job. The index is only a pointer: before reusing,
//! the job is read back from the job store (so this works the same on every store) and
//! must still be `completed`, not deleted, with the same fingerprint and every output
//! present. Anything missing and the job is simply worked in full.
//!
//! The outputs are **copied** to the new job's own keys (`jobs/{id}/...`) rather than
//! pointed at: every job then owns its files, with the same layout whether it was reused
//! or not, and deleting or pruning the original job can never break the new one. A copy
//! costs a few megabytes of I/O, far less than a composition and a render.

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::attempt::{store_outputs, StoredOutput};
use super::Inner;
use crate::blobs::BlobKey;
use crate::color::GarmentColor;
use crate::error::{Error, Result};
use crate::job::{JobId, JobStatus};
use crate::pipeline::{Output, OutputKind};
use crate::store::StoredJob;
use crate::template::TemplatePack;

/// The fingerprint of a job's inputs (hex SHA-256), this version of the library and the
/// renderer's settings included: an upgrade or a settings change renders afresh.
pub(crate) fn fingerprint(
    inner: &Inner,
    design_key: &BlobKey,
    pack: &TemplatePack,
    job: &StoredJob,
    color: GarmentColor,
) -> String {
    fingerprint_for(
        env!("CARGO_PKG_VERSION"),
        inner,
        design_key,
        pack,
        job,
        color,
    )
}

fn fingerprint_for(
    library: &str,
    inner: &Inner,
    design_key: &BlobKey,
    pack: &TemplatePack,
    job: &StoredJob,
    color: GarmentColor,
) -> String {
    let outputs = &inner.config.outputs;
    let manifest = serde_json::to_string(pack.manifest()).unwrap_or_default();
    let mut inputs = json!({
        "version": 2,
        "design": design_key.as_str(),
        "template": pack.id(),
        "template_manifest": hex(&Sha256::digest(manifest.as_bytes())),
        "preset": job.job.preset.as_str(),
        "color": color.to_string(),
        "outputs": {
            "print_file": outputs.print_file,
            "stills": outputs.stills.iter().map(|v| v.name()).collect::<Vec<_>>(),
            "mp4": outputs.turntable_mp4,
            "webp": outputs.turntable_webp,
        },
        "renderer": inner.renderer.name(),
        "renderer_settings": inner.renderer.settings(),
        "library": library,
    });
    // A pack folder's own bake draws its garment: a re-bake gives other renders. (The
    // built-in bake is part of the library version.)
    if pack.dir().is_some() {
        let bake = pack
            .baked_views()
            .and_then(|views| views.content_hash())
            .unwrap_or_default();
        inputs["template_bake"] = Value::String(bake);
    }
    hex(&Sha256::digest(inputs.to_string().as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn index_key(fingerprint: &str) -> Result<BlobKey> {
    BlobKey::parse(format!("reuse/{fingerprint}.json"))
}

/// Points the index at `job`, a job that just completed with `fingerprint`. Best effort:
/// a failure only means the next identical job is worked in full.
pub(crate) async fn remember(inner: &Inner, fingerprint: &str, job: &JobId) {
    let Ok(key) = index_key(fingerprint) else {
        return;
    };
    let body = json!({ "job_id": job.as_str() }).to_string().into_bytes();
    let _ = inner.blobs.put(&key, body, "application/json").await;
}

/// A completed job with the same fingerprint whose outputs are all present.
pub(crate) struct Earlier {
    job: StoredJob,
    outputs: Vec<(OutputKind, BlobKey)>,
}

impl Earlier {
    /// The earlier job's id.
    pub(crate) fn id(&self) -> &JobId {
        self.job.id()
    }
}

/// Finds the completed job to reuse, if there is one.
pub(crate) async fn find(inner: &Inner, fingerprint: &str, this: &JobId) -> Option<Earlier> {
    let key = index_key(fingerprint).ok()?;
    if !inner.blobs.exists(&key).await.ok()? {
        return None;
    }
    let index: Value = serde_json::from_slice(&inner.blobs.get(&key).await.ok()?).ok()?;
    let id = JobId::parse(index.get("job_id")?.as_str()?).ok()?;
    if &id == this {
        return None;
    }
    let job = inner.store.get(&id).await.ok()?;
    let metadata = job.job.metadata.as_ref()?;
    if job.job.status != JobStatus::Completed
        || metadata.get("fingerprint").and_then(Value::as_str) != Some(fingerprint)
    {
        return None;
    }
    let mut outputs = Vec::new();
    for o in metadata.get("outputs")?.as_array()? {
        let kind = OutputKind::from_file_name(o.get("name")?.as_str()?)?;
        let key = inner.blobs.key_for_url(o.get("url")?.as_str()?)?;
        if !inner.blobs.exists(&key).await.ok()? {
            return None;
        }
        outputs.push((kind, key));
    }
    if outputs.is_empty() {
        return None;
    }
    Some(Earlier { job, outputs })
}

/// Copies the earlier job's outputs to `current`'s own keys.
pub(crate) async fn copy_outputs(
    inner: &Inner,
    current: &StoredJob,
    written: &mut Vec<BlobKey>,
    earlier: &Earlier,
) -> Result<Vec<StoredOutput>> {
    let mut files = Vec::new();
    for (kind, key) in &earlier.outputs {
        files.push(Output {
            kind: *kind,
            bytes: inner.blobs.get(key).await?,
        });
    }
    store_outputs(inner, current, written, files).await
}

/// The metadata the reusing job keeps from the earlier one: its preflight report and
/// renderer, plus `reused_from` naming it.
pub(crate) fn metadata(earlier: &Earlier) -> Result<Map<String, Value>> {
    let old = earlier
        .job
        .job
        .metadata
        .as_ref()
        .ok_or_else(|| Error::store("the reused job lost its metadata"))?;
    let mut out = Map::new();
    for key in ["preflight", "renderer"] {
        if let Some(v) = old.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert(
        "reused_from".into(),
        Value::String(earlier.id().as_str().to_string()),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, EngineConfig};
    use crate::job::{NewRenderJob, Preset};
    use crate::store::CreateOptions;

    #[tokio::test]
    async fn another_library_version_is_another_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig::new(dir.path()).with_store_url("memory:"))
            .await
            .unwrap();
        let inner = &engine.inner;
        let job = inner
            .store
            .create(
                NewRenderJob::new("prod_1", "file:///d.png", Preset::ChestLarge),
                CreateOptions::default(),
            )
            .await
            .unwrap()
            .job;
        let key = BlobKey::content_addressed("designs", b"design", "png").unwrap();
        let pack = TemplatePack::builtin();
        let print =
            |library: &str| fingerprint_for(library, inner, &key, &pack, &job, GarmentColor::WHITE);
        assert_eq!(print("0.1.0"), print("0.1.0"));
        assert_ne!(print("0.1.0"), print("0.2.0"));
        assert_eq!(
            fingerprint(inner, &key, &pack, &job, GarmentColor::WHITE),
            print(env!("CARGO_PKG_VERSION"))
        );
    }
}
