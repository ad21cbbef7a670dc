//! The one S3 test helper: every test that needs S3-compatible storage gets its own fresh
//! bucket on the test server (moto, started by `scripts/ensure-moto`). When the server
//! does not answer the test says loudly that it skips, and fails under `CI=true`.
//! Included by the library's tests (`tests/it`, feature `s3`) and the command line's
//! (`cli/tests/cli`); it uses only the standard library and `ulid`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// The fake secret key every S3 test runs with: recognisable, so a test can look for it
/// in errors, logs, `Debug` output and job JSON. moto accepts any credentials.
pub const FAKE_SECRET: &str = "FAKE-SECRET-do-not-print-7f3a9c";
/// The access key id the S3 tests use.
pub const FAKE_KEY_ID: &str = "AKIATESTRENDERENGINE";

/// The test server's endpoint (`RENDER_ENGINE_TEST_S3`, default `http://127.0.0.1:5900`,
/// where `scripts/ensure-moto` starts moto).
pub fn s3_endpoint() -> String {
    std::env::var("RENDER_ENGINE_TEST_S3")
        .unwrap_or_else(|_| "http://127.0.0.1:5900".to_string())
        .trim_end_matches('/')
        .to_string()
}

/// The environment a process (or this one) needs to talk to the test server: fake
/// credentials, a region and permission for plain http.
pub fn s3_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", FAKE_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET.to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ALLOW_HTTP", "true".to_string()),
    ]
}

/// Sets [`s3_env`] in this process, once (before any storage reads the environment).
pub fn use_fake_credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (name, value) in s3_env() {
            // Set once, first thing in every S3 test, before any client reads them.
            std::env::set_var(name, value);
        }
        std::env::remove_var("AWS_SESSION_TOKEN");
        std::env::remove_var("AWS_ENDPOINT_URL");
        std::env::remove_var("AWS_ENDPOINT");
    });
}

/// Sends one unsigned HTTP/1.1 request to `endpoint` (moto accepts unsigned bucket
/// operations); the status code, or why there is none.
pub fn http(endpoint: &str, method: &str, path: &str) -> Result<u16, String> {
    let hostport = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("{endpoint} is not an http:// endpoint"))?
        .trim_end_matches('/');
    let addr = hostport
        .parse::<std::net::SocketAddr>()
        .map_err(|e| format!("{hostport}: {e}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .map_err(|e| format!("cannot connect to {endpoint}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no HTTP answer from {endpoint}"))
}

/// Makes the bucket `bucket` on `endpoint`.
pub fn create_bucket(endpoint: &str, bucket: &str) -> Result<(), String> {
    match http(endpoint, "PUT", &format!("/{bucket}"))? {
        200 => Ok(()),
        code => Err(format!("PUT /{bucket} answered {code}")),
    }
}

/// A fresh bucket on the test server: `(endpoint, bucket)`; `None` (skip) when the
/// server does not answer, a panic under `CI=true`.
pub fn fresh_bucket() -> Option<(String, String)> {
    use_fake_credentials();
    let endpoint = s3_endpoint();
    let bucket = format!("re-test-{}", ulid::Ulid::new().to_string().to_lowercase());
    match create_bucket(&endpoint, &bucket) {
        Ok(()) => Some((endpoint, bucket)),
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("the S3 test server {endpoint} is unusable under CI=true: {why}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPING an S3 test: {endpoint} is unusable: {why}\n\
                 !!!!!!!! run scripts/ensure-moto or set RENDER_ENGINE_TEST_S3; under CI=true this fails\n"
            );
            None
        }
    }
}

/// The storage URL of `prefix` in `bucket` on `endpoint`.
pub fn storage_url(endpoint: &str, bucket: &str, prefix: &str) -> String {
    format!("s3://{bucket}/{prefix}?endpoint={endpoint}&region=us-east-1&path_style=true")
}
