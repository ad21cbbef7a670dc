//! Blob storage in an S3-compatible bucket (AWS S3, MinIO, R2, moto, ...), through the
//! `object_store` crate.
//!
//! A storage URL `s3://bucket/prefix?region=..&endpoint=..&path_style=true` names the
//! bucket and the key prefix everything is kept under; credentials and the rest come from
//! the standard AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP=true`), never
//! from the URL. See `docs/storage.md`.
//!
//! - **Atomic writes**: an object appears under its key only once its single PUT has
//!   completed, so a reader never sees part of one; concurrent writers of one key leave
//!   one of their values (the last to complete).
//! - **URLs**: [`BlobStorage::url_for`] is the object's plain `https://` (or `http://`)
//!   URL, or `{public_base_url}/{key}` when a public base URL is set; the URLs handed out
//!   for finished blobs ([`StoredBlob::url`]) are presigned GET URLs valid for
//!   [`StorageOptions::presign_expires`] unless a public base URL is set.
//! - **Failing fast**: a short retry budget and timeouts (a dead server fails a call in a
//!   few seconds, not minutes); the engine's own retries handle transient trouble.
//! - **No secrets in output**: errors, `Debug` and URLs never contain the secret key or
//!   session token. (A presigned URL names the access key *id*, as every SigV4 presigned
//!   URL does; a session token, when one is used, is part of it too: see the docs.)

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::signer::{Method, Signer};
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, RetryConfig,
};

use super::{redact_url, BlobKey, BlobStorage, StorageOptions, StoredBlob};
use crate::error::{Error, Result};

/// The option name validation errors of a storage URL are reported on.
const FIELD: &str = "storage";

/// The longest a presigned URL can be valid for (SigV4's limit): 7 days.
pub const MAX_PRESIGN_EXPIRES: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long the reachability check at open may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Blobs in an S3-compatible bucket, under a key prefix.
///
/// Open one with [`S3Storage::open`] (or [`super::open_storage_url`]); the engine checks
/// the bucket answers ([`BlobStorage::check`]) when it opens.
#[derive(Clone)]
pub struct S3Storage {
    store: Arc<AmazonS3>,
    bucket: String,
    /// The key prefix without slashes at either end; empty for the bucket's root.
    prefix: String,
    /// The bucket's URL (`{endpoint}/{bucket}` path-style, or the virtual host):
    /// `{bucket_url}/{prefix}/{key}` is an object's URL.
    bucket_url: String,
    public_base_url: Option<String>,
    presign_expires: Duration,
    /// The storage URL as given, for messages (it never holds credentials).
    display: String,
}

impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only what the URL named: the client (and its credentials) stay out.
        f.debug_struct("S3Storage")
            .field("url", &self.display)
            .field("bucket_url", &self.bucket_url)
            .field("public_base_url", &self.public_base_url)
            .field("presign_expires", &self.presign_expires)
            .finish_non_exhaustive()
    }
}

/// What a storage URL `s3://bucket/prefix?...` says.
#[derive(Debug, PartialEq, Eq)]
struct S3Url {
    bucket: String,
    prefix: String,
    region: Option<String>,
    endpoint: Option<String>,
    path_style: Option<bool>,
    allow_http: Option<bool>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::validation(FIELD, message)
}

fn parse_bool(option: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(invalid(format!(
            "option `{option}` must be `true` or `false`, not `{}`",
            other.escape_debug()
        ))),
    }
}

/// Bucket names as S3 allows them: 3 to 63 lowercase letters, digits, `.` and `-`,
/// starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<()> {
    let ok_chars = bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
    let ends_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if (3..=63).contains(&bucket.len())
        && ok_chars
        && ends_ok(bucket.chars().next())
        && ends_ok(bucket.chars().last())
    {
        Ok(())
    } else {
        Err(invalid(format!(
            "`{}` is not a bucket name: use 3 to 63 lowercase letters, digits, `.` and `-`",
            bucket.escape_debug()
        )))
    }
}

fn parse_s3_url(raw: &str) -> Result<S3Url> {
    let url = url::Url::parse(raw).map_err(|e| {
        invalid(format!(
            "`{}` is not a URL ({e}); use s3://bucket/prefix",
            redact_url(raw)
        ))
    })?;
    if url.scheme() != "s3" {
        return Err(invalid(format!(
            "`{}` is not an s3:// URL",
            redact_url(raw)
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "an s3:// URL must not hold credentials; set AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY in the environment instead",
        ));
    }
    if url.port().is_some() {
        return Err(invalid(
            "an s3:// URL names a bucket, not a server: give the server as `?endpoint=http://host:port`",
        ));
    }
    // The URL parser resolves `.` and `..` segments; a prefix written with them is
    // refused rather than silently resolved.
    let raw_path = raw
        .split_once("://")
        .map(|(_, rest)| rest.split(['?', '#']).next().unwrap_or(""))
        .unwrap_or("");
    let dotted = raw_path.split('/').skip(1).any(|seg| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    });
    if dotted {
        return Err(invalid(
            "the prefix of an s3:// URL must not have `.` or `..` segments",
        ));
    }
    let bucket = url.host_str().unwrap_or_default().to_string();
    check_bucket(&bucket)?;
    let prefix = url.path().trim_matches('/').to_string();
    if !prefix.is_empty() {
        BlobKey::parse(prefix.clone())
            .map_err(|e| invalid(format!("the prefix `{}` is not usable: {e}", prefix)))?;
    }
    if url.fragment().is_some() {
        return Err(invalid("an s3:// URL must not have a `#fragment`"));
    }
    let mut parsed = S3Url {
        bucket,
        prefix,
        region: None,
        endpoint: None,
        path_style: None,
        allow_http: None,
    };
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "region" if !value.is_empty() => parsed.region = Some(value.into_owned()),
            "endpoint" => {
                let endpoint = url::Url::parse(&value).map_err(|e| {
                    invalid(format!(
                        "option `endpoint` must be an http:// or https:// URL ({e})"
                    ))
                })?;
                if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host().is_none() {
                    return Err(invalid(
                        "option `endpoint` must be an http:// or https:// URL with a host",
                    ));
                }
                if !endpoint.username().is_empty() || endpoint.password().is_some() {
                    return Err(invalid(
                        "option `endpoint` must not hold credentials; use the AWS_* environment variables",
                    ));
                }
                if endpoint.scheme() == "http" {
                    // Naming a plain-http endpoint in the URL is consent to plain http.
                    parsed.allow_http.get_or_insert(true);
                }
                parsed.endpoint = Some(value.trim_end_matches('/').to_string());
            }
            "path_style" => parsed.path_style = Some(parse_bool("path_style", &value)?),
            "allow_http" => parsed.allow_http = Some(parse_bool("allow_http", &value)?),
            other => {
                return Err(invalid(format!(
                    "unknown option `{}` in the storage URL; use region, endpoint, path_style or allow_http",
                    other.escape_debug()
                )))
            }
        }
    }
    Ok(parsed)
}

/// Short retries and timeouts: a dead server fails a call within seconds. The engine
/// retries a failed attempt later with its own backoff.
fn client_settings(builder: AmazonS3Builder) -> AmazonS3Builder {
    builder
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: Duration::from_secs(15),
        })
        // Set key by key: `with_client_options` would drop what the environment set
        // (AWS_ALLOW_HTTP among it).
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ConnectTimeout),
            "3s",
        )
        .with_config(AmazonS3ConfigKey::Client(ClientConfigKey::Timeout), "60s")
}

impl S3Storage {
    /// Opens the bucket a storage URL `s3://bucket/prefix?region=..&endpoint=..&path_style=true&allow_http=true`
    /// names, with credentials and defaults from the AWS environment variables (options
    /// in the URL win over the environment). Nothing is sent yet: the engine checks the
    /// bucket with [`BlobStorage::check`] when it opens.
    ///
    /// Errors: `E_VALIDATION` on field `storage` for a malformed URL (an unknown option,
    /// a bad bucket name or prefix, credentials in the URL), on `public_base_url` or
    /// `presign_expires` for those options; `E_STORAGE` when the client cannot be built.
    pub fn open(url: &str, options: &StorageOptions) -> Result<Self> {
        let parsed = parse_s3_url(url)?;
        let expires = options.presign_expires;
        if expires.is_zero() || expires > MAX_PRESIGN_EXPIRES {
            return Err(Error::validation(
                "presign_expires",
                format!(
                    "must be between 1 second and 7 days (604800 s), not {} s",
                    expires.as_secs()
                ),
            ));
        }
        let public_base_url = options
            .public_base_url
            .as_deref()
            .map(super::check_public_base_url)
            .transpose()?;

        let mut builder = AmazonS3Builder::from_env().with_bucket_name(&parsed.bucket);
        if let Some(region) = &parsed.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &parsed.endpoint {
            // The URL's endpoint wins over AWS_ENDPOINT_URL_S3 too.
            builder = builder
                .with_endpoint(endpoint)
                .with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
        }
        if let Some(path_style) = parsed.path_style {
            builder = builder.with_virtual_hosted_style_request(!path_style);
        }
        if let Some(allow) = parsed.allow_http {
            builder = builder.with_allow_http(allow);
        }
        builder = client_settings(builder);

        let bucket_url = bucket_url(&builder, &parsed.bucket);
        let store = builder.build().map_err(|e| {
            // object_store's builder errors name options, never their values' secrets.
            Error::storage(format!(
                "cannot set up the S3 client for `{}`: {}",
                redact_url(url),
                scrub(&e.to_string())
            ))
        })?;
        Ok(Self {
            store: Arc::new(store),
            bucket: parsed.bucket,
            prefix: parsed.prefix,
            bucket_url,
            public_base_url,
            presign_expires: expires,
            display: redact_storage_url(url),
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The key prefix (without slashes at either end; empty for the bucket's root).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn path(&self, key: &BlobKey) -> ObjectPath {
        // BlobKey segments are plain ASCII names: the path stays under the prefix.
        if self.prefix.is_empty() {
            ObjectPath::from(key.as_str())
        } else {
            ObjectPath::from(format!("{}/{}", self.prefix, key.as_str()))
        }
    }

    fn object_url(&self, key: &BlobKey) -> String {
        if self.prefix.is_empty() {
            format!("{}/{key}", self.bucket_url)
        } else {
            format!("{}/{}/{key}", self.bucket_url, self.prefix)
        }
    }

    /// A GET URL signed for [`StorageOptions::presign_expires`], or the public one.
    async fn fetch_url(&self, key: &BlobKey) -> Result<String> {
        if let Some(base) = &self.public_base_url {
            return Ok(format!("{base}/{key}"));
        }
        let url = self
            .store
            .signed_url(Method::GET, &self.path(key), self.presign_expires)
            .await
            .map_err(|e| self.error("sign a URL for", key, e))?;
        Ok(url.to_string())
    }

    fn error(&self, action: &str, key: &BlobKey, e: object_store::Error) -> Error {
        match e {
            object_store::Error::NotFound { .. } => Error::NotFound {
                what: "blob",
                id: key.to_string(),
            },
            other => Error::storage(format!(
                "could not {action} `{key}` in {}: {}",
                self.display,
                scrub(&other.to_string())
            ))
            .caused_by(Scrubbed(scrub(&format!("{other:?}")))),
        }
    }
}

/// `s3://bucket/prefix?...` without anything but the bucket, prefix and the endpoint.
pub(crate) fn redact_storage_url(raw: &str) -> String {
    match parse_s3_url(raw) {
        Ok(p) => {
            let mut out = format!("s3://{}/{}", p.bucket, p.prefix);
            if let Some(endpoint) = p.endpoint {
                out.push_str(&format!(" (endpoint {})", redact_url(&endpoint)));
            }
            out
        }
        Err(_) => redact_url(raw),
    }
}

/// The bucket's base URL, as `object_store` builds it from the same settings.
fn bucket_url(builder: &AmazonS3Builder, bucket: &str) -> String {
    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
    let region = builder
        .get_config_value(&AmazonS3ConfigKey::Region)
        .unwrap_or_else(|| "us-east-1".to_string());
    let virtual_hosted = builder
        .get_config_value(&AmazonS3ConfigKey::VirtualHostedStyleRequest)
        .is_some_and(|v| v == "true");
    match (endpoint, virtual_hosted) {
        (Some(endpoint), true) => endpoint.trim_end_matches('/').to_string(),
        (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
        (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
    }
}

/// Removes anything that looks like a credential from a client message: the values of
/// the AWS secret environment variables and any `X-Amz-*` query (signatures, tokens).
fn scrub(message: &str) -> String {
    let mut out = message.to_string();
    for var in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ] {
        if let Ok(value) = std::env::var(var) {
            if value.len() >= 4 {
                out = out.replace(&value, "******");
            }
        }
    }
    // Signed request URLs in messages: drop their query strings.
    let mut cleaned = String::with_capacity(out.len());
    let mut rest = out.as_str();
    while let Some(at) = rest.find("X-Amz-") {
        let (head, tail) = rest.split_at(at);
        cleaned.push_str(head);
        cleaned.push_str("X-Amz-(redacted)");
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == ')')
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    cleaned.push_str(rest);
    cleaned
}

/// A client error's text, scrubbed of credentials, kept as an error's source.
#[derive(Debug)]
struct Scrubbed(String);

impl fmt::Display for Scrubbed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Scrubbed {}

#[async_trait::async_trait]
impl BlobStorage for S3Storage {
    async fn put(&self, key: &BlobKey, bytes: Vec<u8>, content_type: &str) -> Result<StoredBlob> {
        let size = bytes.len() as u64;
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, content_type.to_string().into());
        let options = PutOptions {
            attributes,
            ..PutOptions::default()
        };
        // One PUT: the object appears whole when it completes, never in part.
        self.store
            .put_opts(&self.path(key), PutPayload::from(bytes), options)
            .await
            .map_err(|e| self.error("write", key, e))?;
        Ok(StoredBlob {
            url: self.fetch_url(key).await?,
            key: key.clone(),
            size,
            content_type: content_type.to_string(),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<Vec<u8>> {
        let result = self
            .store
            .get(&self.path(key))
            .await
            .map_err(|e| self.error("read", key, e))?;
        let bytes = result
            .bytes()
            .await
            .map_err(|e| self.error("read", key, e))?;
        Ok(bytes.to_vec())
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.error("look up", key, e)),
        }
    }

    async fn delete(&self, key: &BlobKey) -> Result<bool> {
        // S3 deletes answer the same whether or not the object was there: ask first.
        if !self.exists(key).await? {
            return Ok(false);
        }
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(true),
            Err(e) => Err(self.error("delete", key, e)),
        }
    }

    async fn list(&self, prefix: Option<&BlobKey>) -> Result<Vec<BlobKey>> {
        let under = match prefix {
            Some(p) => self.path(p),
            None if self.prefix.is_empty() => ObjectPath::default(),
            None => ObjectPath::from(self.prefix.as_str()),
        };
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let metas: Vec<_> = self
            .store
            .list(Some(&under))
            .try_collect()
            .await
            .map_err(|e| {
                Error::storage(format!(
                    "could not list `{under}` in {}: {}",
                    self.display,
                    scrub(&e.to_string())
                ))
            })?;
        let mut keys: Vec<BlobKey> = metas
            .iter()
            .filter_map(|m| {
                let full = m.location.as_ref();
                let rest = full.strip_prefix(strip.as_str())?;
                BlobKey::parse(rest).ok()
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn check(&self) -> Result<()> {
        let under = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let probe = self.store.list_with_delimiter(under.as_ref());
        let why = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => scrub(&e.to_string()),
            Err(_) => format!("no answer within {} s", CHECK_TIMEOUT.as_secs()),
        };
        Err(Error::storage(format!(
            "the bucket of {} cannot be reached (a wrong endpoint, a missing bucket or \
             refused credentials): {why}",
            self.display
        )))
    }

    async fn fresh_url(&self, key: &BlobKey) -> Result<String> {
        self.fetch_url(key).await
    }

    fn url_for(&self, key: &BlobKey) -> String {
        match &self.public_base_url {
            Some(base) => format!("{base}/{key}"),
            None => self.object_url(key),
        }
    }

    fn key_for_url(&self, url: &str) -> Option<BlobKey> {
        // Presigned URLs are the object's URL plus a query: compare without it.
        let bare = url.split(['?', '#']).next()?;
        let rest = match &self.public_base_url {
            Some(base) if bare.starts_with(base.as_str()) => {
                bare[base.len()..].strip_prefix('/')?
            }
            _ => {
                let root = if self.prefix.is_empty() {
                    format!("{}/", self.bucket_url)
                } else {
                    format!("{}/{}/", self.bucket_url, self.prefix)
                };
                bare.strip_prefix(root.as_str())?
            }
        };
        BlobKey::parse(rest).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_urls_parse_with_their_options() {
        let p = parse_s3_url(
            "s3://my-bucket/renders/shop1?region=eu-west-1&endpoint=http://127.0.0.1:5900/&path_style=true",
        )
        .unwrap();
        assert_eq!(
            p,
            S3Url {
                bucket: "my-bucket".into(),
                prefix: "renders/shop1".into(),
                region: Some("eu-west-1".into()),
                endpoint: Some("http://127.0.0.1:5900".into()),
                path_style: Some(true),
                allow_http: Some(true),
            }
        );
        let bare = parse_s3_url("s3://bucket").unwrap();
        assert_eq!(bare.prefix, "");
        assert_eq!(bare.endpoint, None);
    }

    #[test]
    fn malformed_storage_urls_are_validation_errors_on_storage() {
        for bad in [
            "s3://",
            "s3://B/x",
            "s3://ab/x",
            "s3://bucket/../x",
            "s3://bucket/a/%2e%2e/x",
            "s3://bucket/./x",
            "s3://bucket/a//b",
            "s3://bucket/x?colour=red",
            "s3://bucket/x?path_style=maybe",
            "s3://bucket/x?endpoint=ftp://h",
            "s3://bucket/x?endpoint=nonsense",
            "s3://bucket:9000/x",
            "s3://AKIAXX:secretvalue@bucket/x",
            "s3://bucket/x?endpoint=http://u:secretvalue@h:1",
            "s3://bucket/x#frag",
            "gs://bucket/x",
            "not a url",
        ] {
            let err = parse_s3_url(bad).expect_err(bad);
            assert_eq!(err.code(), "E_VALIDATION", "{bad}");
            assert_eq!(err.fields()[0].field, "storage", "{bad}");
            assert!(!err.to_string().contains("secretvalue"), "{bad}: {err}");
        }
    }

    #[test]
    fn scrub_removes_secrets_and_signatures() {
        let text = "GET http://h/b/k?X-Amz-Signature=abc123&X-Amz-Credential=K failed";
        let out = scrub(text);
        assert!(!out.contains("abc123"), "{out}");
        assert!(out.contains("failed"));
    }
}
