//! The one PostgreSQL test-schema helper: every test that needs a PostgreSQL database
//! gets a fresh `re_engine_{ulid}` schema on the test server and drops it afterwards;
//! schemas left by killed runs are swept. Included by the library's tests
//! (`tests/it`, feature `postgres`) and the command line's (`cli/tests/cli`).

/// Schemas of engine tests older than this are swept by the next test that starts (a
/// test that panicked never reached its own [`drop_schema`]).
const STALE_SCHEMA_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The server URL of the PostgreSQL tests (`DATABASE_URL`, default
/// `postgres://postgres@127.0.0.1:5432/test`).
pub fn postgres_base() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A fresh `re_engine_{ulid}` schema on the PostgreSQL test server; `None` (skip) when
/// it is unreachable, a panic under `CI=true`. Drop it with [`drop_schema`] at the end
/// of the test; stale ones of earlier runs are swept here.
pub async fn postgres_url() -> Option<String> {
    let base = postgres_base();
    let schema = format!("re_engine_{}", ulid::Ulid::new().to_string().to_lowercase());
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}schema={schema}");
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        render_engine::open_store(&url),
    );
    match probe.await {
        Ok(Ok(_)) => {
            sweep_stale_schemas(&base).await;
            Some(url)
        }
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
                "\n!!!!!!!! SKIPPING a PostgreSQL test: {base} is unreachable: {why}\n\
                 !!!!!!!! start the server or set DATABASE_URL; under CI=true this fails\n"
            );
            None
        }
    }
}

/// The schema named in a URL made by [`postgres_url`].
pub fn schema_of(url: &str) -> Option<&str> {
    let (_, schema) = url.rsplit_once("schema=")?;
    let schema = schema.split('&').next()?;
    schema.starts_with("re_engine_").then_some(schema)
}

/// Drops the schema of a URL made by [`postgres_url`] (and everything in it).
pub async fn drop_schema(url: &str) {
    use sqlx::{Connection, Executor};
    let Some(schema) = schema_of(url) else {
        return;
    };
    if let Ok(mut conn) = sqlx::PgConnection::connect(&postgres_base()).await {
        let sql = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let _ = conn.execute(sql.as_str()).await;
    }
}

/// Drops `re_engine_*` schemas whose ULID is older than [`STALE_SCHEMA_AGE`]: left by
/// tests that panicked or were killed. Younger ones may belong to tests running now.
pub async fn sweep_stale_schemas(base: &str) {
    use sqlx::{Connection, Executor, Row};
    let Ok(mut conn) = sqlx::PgConnection::connect(base).await else {
        return;
    };
    let Ok(rows) = conn
        .fetch_all(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 're\\_engine\\_%' ESCAPE '\\'",
        )
        .await
    else {
        return;
    };
    let now = std::time::SystemTime::now();
    for row in rows {
        let Ok(name) = row.try_get::<String, _>(0) else {
            continue;
        };
        let Some(id) = name
            .strip_prefix("re_engine_")
            .and_then(|u| ulid::Ulid::from_string(&u.to_uppercase()).ok())
        else {
            continue;
        };
        let age = now.duration_since(id.datetime()).unwrap_or_default();
        if age > STALE_SCHEMA_AGE {
            let sql = format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
            let _ = conn.execute(sql.as_str()).await;
        }
    }
}
