//! Helpers shared by the engine's integration tests.

/// A fresh schema on the PostgreSQL test server (`DATABASE_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`); `None` (skip) when it is unreachable,
/// a panic under `CI=true`.
#[cfg(feature = "postgres")]
pub async fn postgres_url() -> Option<String> {
    let base = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let schema = format!("re_engine_{}", ulid::Ulid::new().to_string().to_lowercase());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={schema}");
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        render_engine::open_store(&url),
    );
    match probe.await {
        Ok(Ok(_)) => Some(url),
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "no answer within 5 s".to_string(),
            };
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("PostgreSQL at {base} is unreachable under CI=true: {why}");
            }
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPING a PostgreSQL engine test: {base} is unreachable: {why}\n"
            );
            None
        }
    }
}
