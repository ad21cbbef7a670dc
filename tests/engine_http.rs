//! `http(s)://` designs: downloaded only when enabled, never from a loopback, private,
//! link-local or otherwise special address unless that range is explicitly allowed,
//! with redirects re-checked at every hop, a size cap and a time limit. A refused
//! download stores nothing.
//!
//! The test server listens on 127.0.0.1 only; the refused private and link-local
//! addresses are refused before any connection is attempted.

use std::collections::HashMap;
use std::io::{Cursor, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use render_engine::{
    DesignSource, Engine, EngineConfig, HttpDesigns, IpRange, JobStatus, Preset, Submission,
};

fn design_png() -> Vec<u8> {
    let img = image::RgbaImage::from_fn(120, 80, |x, _| image::Rgba([x as u8, 90, 200, 255]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// A small HTTP/1.1 server on 127.0.0.1 with one behaviour per path; it counts the
/// requests each path received.
struct TestServer {
    port: u16,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl TestServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counted = hits.clone();
        std::thread::spawn(move || {
            // Bounded: the test process ends it; each connection has its own thread.
            for stream in listener.incoming().take(200) {
                let Ok(stream) = stream else { continue };
                let counted = counted.clone();
                std::thread::spawn(move || serve(stream, port, &counted));
            }
        });
        Self { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn serve(mut stream: TcpStream, port: u16, hits: &Mutex<HashMap<String, usize>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let redirect = |to: &str| {
        format!("HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    };
    let _ = match path.as_str() {
        "/design.png" => {
            let body = design_png();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream
                .write_all(head.as_bytes())
                .and_then(|()| stream.write_all(&body))
        }
        "/redirect-ok" => stream.write_all(redirect("/design.png").as_bytes()),
        "/redirect-private" => {
            stream.write_all(redirect("http://10.0.0.1/design.png").as_bytes())
        }
        "/redirect-metadata" => stream.write_all(
            redirect("http://169.254.169.254/latest/meta-data/").as_bytes(),
        ),
        "/redirect-localhost" => stream.write_all(
            redirect(&format!("http://localhost:{port}/design.png")).as_bytes(),
        ),
        "/loop" => stream.write_all(redirect("/loop").as_bytes()),
        "/two-hops" => stream.write_all(redirect("/redirect-ok").as_bytes()),
        "/big-declared" => stream.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 10000000\r\nConnection: close\r\n\r\n",
        ),
        "/big-streamed" => {
            // No length announced: the cap must hold while reading.
            let mut body = design_png();
            body.resize(300 * 1024, 0);
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nConnection: close\r\n\r\n")
                .and_then(|()| stream.write_all(&body))
        }
        "/slow" => {
            // Headers at once, then a byte every 200 ms (at most 5 s).
            let body = design_png();
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let mut r = stream.write_all(head.as_bytes());
            for b in body.iter().take(25) {
                if r.is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
                r = stream.write_all(&[*b]).and_then(|()| stream.flush());
            }
            r
        }
        _ => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ),
    };
}

async fn engine(dir: &std::path::Path, http: HttpDesigns) -> Engine {
    Engine::open(
        EngineConfig::new(dir)
            .with_store_url(format!("sqlite://{}", dir.join("jobs.db").display()))
            .with_max_design_bytes(200 * 1024)
            .with_http_designs(http),
    )
    .await
    .unwrap()
}

fn loopback() -> IpRange {
    "127.0.0.1/32".parse().unwrap()
}

fn submission(url: &str) -> Submission {
    Submission::new("prod_1", Preset::ChestLarge, DesignSource::Url(url.into()))
}

fn stored_files(dir: &std::path::Path) -> usize {
    fn walk(p: &std::path::Path) -> usize {
        std::fs::read_dir(p).map_or(0, |entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
    }
    walk(&dir.join("blobs"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_allowed_server_serves_the_design() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path(), HttpDesigns::enabled().allow(loopback())).await;
    let created = engine
        .submit(submission(&server.url("/design.png")))
        .await
        .unwrap();
    assert_eq!(created.job.job.status, JobStatus::Pending);
    let key = engine
        .blobs()
        .key_for_url(&created.job.job.design_file_url)
        .unwrap();
    assert_eq!(engine.blobs().get(&key).await.unwrap(), design_png());

    // A redirect within the allowed range is followed.
    let again = engine
        .submit(submission(&server.url("/redirect-ok")))
        .await
        .unwrap();
    assert_eq!(
        again.job.job.design_file_url,
        created.job.job.design_file_url
    );
    assert_eq!(server.hits("/design.png"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_downloads_store_nothing() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let allowed = engine(
        dir.path(),
        HttpDesigns::enabled()
            .allow(loopback())
            .with_timeout(Duration::from_millis(800))
            .with_max_redirects(3),
    )
    .await;
    let cases = [
        // A redirect hop to a private or metadata address is checked like the first URL.
        ("/redirect-private", "E_VALIDATION", "10.0.0.1"),
        ("/redirect-metadata", "E_VALIDATION", "169.254.169.254"),
        ("/loop", "E_VALIDATION", "redirects more than 3"),
        ("/big-declared", "E_IMAGE_TOO_LARGE", "10000000 bytes"),
        ("/big-streamed", "E_IMAGE_TOO_LARGE", "limit"),
        ("/slow", "E_VALIDATION", "within 0.8 s"),
        ("/missing.png", "E_VALIDATION", "HTTP 404"),
    ];
    for (path, code, says) in cases {
        let err = allowed
            .submit(submission(&server.url(path)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{path}: {err}");
        assert!(err.to_string().contains(says), "{path}: {err}");
        if code == "E_VALIDATION" {
            assert_eq!(err.fields()[0].field, "design", "{path}: {err}");
        }
    }
    // A hop to a host name is resolved and its address checked: `localhost` is
    // 127.0.0.1, which this engine allows, so the hop is followed.
    allowed
        .submit(submission(&server.url("/redirect-localhost")))
        .await
        .unwrap();
    assert_eq!(server.hits("/design.png"), 1);
    std::fs::remove_dir_all(dir.path().join("blobs")).unwrap();

    // Without the exception, every special address is refused before connecting.
    let strict = engine(dir.path(), HttpDesigns::enabled()).await;
    let port = server.port;
    let refused = [
        (server.url("/design.png"), "loopback"),
        (format!("http://localhost:{port}/design.png"), "loopback"),
        (format!("http://[::1]:{port}/design.png"), "loopback"),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/design.png"),
            "loopback",
        ),
        ("http://10.1.2.3/design.png".to_string(), "private"),
        ("http://192.168.0.10/design.png".to_string(), "private"),
        (
            "http://100.64.0.1/design.png".to_string(),
            "carrier-grade NAT",
        ),
        (
            "http://169.254.169.254/latest/meta-data/".to_string(),
            "link-local",
        ),
        ("http://[fd00::1]/design.png".to_string(), "unique-local"),
        ("http://[fe80::1]/design.png".to_string(), "link-local"),
        ("http://0.0.0.0/design.png".to_string(), "unspecified"),
        ("https://224.0.0.1/design.png".to_string(), "multicast"),
    ];
    for (url, says) in refused {
        let err = strict.submit(submission(&url)).await.unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION", "{url}: {err}");
        assert_eq!(err.fields()[0].field, "design");
        assert!(err.to_string().contains(says), "{url}: {err}");
    }
    assert_eq!(
        server.hits("/design.png"),
        1,
        "no refused URL reached the server"
    );

    // Downloads that are not enabled are refused outright.
    let off = engine(dir.path(), HttpDesigns::default()).await;
    let err = off
        .submit(submission(&server.url("/design.png")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION");
    assert!(err.to_string().contains("not enabled"), "{err}");
    assert_eq!(server.hits("/design.png"), 1);

    assert_eq!(stored_files(dir.path()), 0, "nothing stored");
    let page = off.store().list(&Default::default()).await.unwrap();
    assert_eq!(page.jobs.len(), 1, "only the one accepted job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redirect_limit_is_exact() {
    let server = TestServer::start();
    let dir = tempfile::tempdir().unwrap();
    let limited = |n| {
        HttpDesigns::enabled()
            .allow(loopback())
            .with_max_redirects(n)
    };
    // 0: the first redirect is refused (not stored as an empty design).
    let none = engine(dir.path(), limited(0)).await;
    let err = none
        .submit(submission(&server.url("/redirect-ok")))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "E_VALIDATION", "{err}");
    assert!(
        err.to_string().contains("redirects more than 0 times"),
        "{err}"
    );
    assert_eq!(server.hits("/design.png"), 0);
    // 1: one hop is followed, two are not.
    let one = engine(dir.path(), limited(1)).await;
    one.submit(submission(&server.url("/redirect-ok")))
        .await
        .unwrap();
    assert_eq!(server.hits("/design.png"), 1);
    let err = one
        .submit(submission(&server.url("/two-hops")))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("redirects more than 1 times"),
        "{err}"
    );
    // 2: two hops are followed.
    let two = engine(dir.path(), limited(2)).await;
    two.submit(submission(&server.url("/two-hops")))
        .await
        .unwrap();
    assert_eq!(server.hits("/design.png"), 2);
}
