//! Fetching `http(s)://` designs without opening a door into the private network.
//!
//! A design URL comes from outside, so the engine treats it as hostile (SSRF): the host
//! is resolved here, every address it resolves to is checked against the refused ranges
//! (loopback, RFC 1918 private, CGNAT, IPv6 unique-local, link-local including the cloud
//! metadata address, unspecified, multicast, broadcast, documentation and the IPv4-mapped
//! forms of all of them), and the connection goes only to addresses that passed: the HTTP
//! client asks this module's resolver, so there is no second lookup a rebinding DNS
//! server could answer differently. Redirects are followed up to a limit and each hop
//! goes through the same resolver. The body is read up to the design size limit and the
//! whole exchange has one time limit.

use std::fmt;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};

/// The default time limit of one design download, redirects included: 20 seconds.
pub(crate) const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(20);
/// The default number of redirects followed: 3.
pub(crate) const DEFAULT_HTTP_REDIRECTS: u32 = 3;
/// The default time limit of one DNS lookup (each hop's host): 5 seconds.
pub(crate) const DEFAULT_DNS_TIMEOUT: Duration = Duration::from_secs(5);

/// A range of IP addresses in CIDR notation (`10.0.0.0/8`, `::1/128`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    /// The first address of the range.
    pub network: IpAddr,
    /// The prefix length in bits.
    pub prefix: u8,
}

impl IpRange {
    /// The range of `network/prefix`; `E_VALIDATION` when the prefix is longer than the
    /// address.
    pub fn new(network: IpAddr, prefix: u8) -> Result<Self> {
        let bits = if network.is_ipv4() { 32 } else { 128 };
        if prefix > bits {
            return Err(Error::validation(
                "http.allowed_ranges",
                format!("the prefix /{prefix} is longer than the {bits}-bit address"),
            ));
        }
        Ok(Self { network, prefix })
    }

    /// Whether `addr` lies in this range (IPv4 and IPv6 ranges never match each other).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.network, addr) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = |why: String| Error::validation("http.allowed_ranges", why);
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad(format!("`{text}` is not an IP address or CIDR range")))?;
        let prefix = match prefix {
            Some(p) => p
                .parse()
                .map_err(|_| bad(format!("`{text}` has a bad prefix length")))?,
            None if network.is_ipv4() => 32,
            None => 128,
        };
        IpRange::new(network, prefix)
    }
}

impl fmt::Display for IpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// How `http(s)://` designs are fetched; refused altogether unless `enabled`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpDesigns {
    /// Accept `http://` and `https://` design URLs (default: no).
    pub enabled: bool,
    /// The time limit of the whole download, redirects included (default 20 s).
    pub timeout: Duration,
    /// How many redirects are followed (default 3); each hop is checked again.
    pub max_redirects: u32,
    /// Ranges that are allowed although they are normally refused (e.g. `127.0.0.1/32`
    /// for a server on this machine). Empty by default: every private, loopback,
    /// link-local, unspecified and multicast address is refused.
    pub allowed_ranges: Vec<IpRange>,
    /// The time limit of one DNS lookup (default 5 s): the system resolver has none of
    /// its own that the download's time limit covers.
    pub dns_timeout: Duration,
    /// Certificates (DER) trusted as roots for `https://` besides the public web's (for
    /// a private CA). Empty by default.
    pub extra_roots: Vec<Vec<u8>>,
}

impl Default for HttpDesigns {
    fn default() -> Self {
        Self {
            enabled: false,
            timeout: DEFAULT_HTTP_TIMEOUT,
            max_redirects: DEFAULT_HTTP_REDIRECTS,
            allowed_ranges: Vec::new(),
            dns_timeout: DEFAULT_DNS_TIMEOUT,
            extra_roots: Vec::new(),
        }
    }
}

impl HttpDesigns {
    /// `http(s)://` designs accepted, with the default limits and no exception to the
    /// refused ranges.
    pub fn enabled() -> Self {
        Self {
            enabled: true,
            ..Self::default()
        }
    }

    /// The same, with `range` allowed although it is normally refused.
    pub fn allow(mut self, range: IpRange) -> Self {
        self.allowed_ranges.push(range);
        self
    }

    /// The same, with this time limit.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same, following at most `n` redirects.
    pub fn with_max_redirects(mut self, n: u32) -> Self {
        self.max_redirects = n;
        self
    }

    /// The same, with this time limit for each DNS lookup.
    pub fn with_dns_timeout(mut self, timeout: Duration) -> Self {
        self.dns_timeout = timeout;
        self
    }

    /// The same, trusting `der` (a DER-encoded CA certificate) as a root for `https://`
    /// besides the public web's roots.
    pub fn trust_root(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.extra_roots.push(der.into());
        self
    }

    /// Why `addr` may not be fetched from, or `None` when it may.
    pub fn refusal(&self, addr: IpAddr) -> Option<&'static str> {
        let why = refused_kind(addr)?;
        if self.allowed_ranges.iter().any(|r| r.contains(addr)) {
            None
        } else {
            Some(why)
        }
    }
}

/// The kind of address `addr` is when it is one design downloads never reach by default.
pub(super) fn refused_kind(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => {
            // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms are their IPv4.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4);
            }
            refused_v6(v6)
        }
    }
}

fn refused_v4(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    Some(if a.is_unspecified() || o[0] == 0 {
        "an unspecified address (0.0.0.0/8)"
    } else if a.is_loopback() {
        "a loopback address (127.0.0.0/8)"
    } else if a.is_private() {
        "a private address (RFC 1918)"
    } else if o[0] == 100 && (64..128).contains(&o[1]) {
        "a shared carrier-grade NAT address (100.64.0.0/10)"
    } else if a.is_link_local() {
        "a link-local address (169.254.0.0/16, where cloud metadata services live)"
    } else if a.is_multicast() {
        "a multicast address"
    } else if a.is_broadcast() || o[0] >= 240 {
        "a reserved or broadcast address (240.0.0.0/4)"
    } else if o[0] == 192 && o[1] == 0 && o[2] == 0 {
        "an IETF protocol assignment address (192.0.0.0/24)"
    } else if a.is_documentation() || (o[0] == 198 && (o[1] == 18 || o[1] == 19)) {
        "a documentation or benchmarking address"
    } else {
        return None;
    })
}

fn refused_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    Some(if a.is_unspecified() {
        "an unspecified address (::)"
    } else if a.is_loopback() {
        "a loopback address (::1)"
    } else if (s[0] & 0xfe00) == 0xfc00 {
        "a unique-local address (fc00::/7)"
    } else if (s[0] & 0xffc0) == 0xfe80 {
        "a link-local address (fe80::/10)"
    } else if (s[0] & 0xffc0) == 0xfec0 {
        "a site-local address (fec0::/10)"
    } else if a.is_multicast() {
        "a multicast address (ff00::/8)"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "a documentation address (2001:db8::/32)"
    } else if s[0] == 0x0064 && s[1] == 0xff9b {
        // NAT64 embeds an IPv4 address in the last 32 bits; judge that one.
        let v4 = Ipv4Addr::from(((u32::from(s[6])) << 16) | u32::from(s[7]));
        return refused_v4(v4);
    } else if s[..6] == [0, 0, 0, 0, 0, 0] {
        // The deprecated IPv4-compatible form ::a.b.c.d.
        let v4 = Ipv4Addr::from(((u32::from(s[6])) << 16) | u32::from(s[7]));
        return refused_v4(v4).or(Some("an IPv4-compatible IPv6 address"));
    } else {
        return None;
    })
}

/// A DNS lookup of `host:port`.
type Lookup = fn(&str) -> std::io::Result<Vec<SocketAddr>>;

fn system_lookup(netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
    netloc.to_socket_addrs().map(Iterator::collect)
}

/// The resolver the HTTP client connects through: it resolves (within the DNS time
/// limit), checks every address and hands the client only checked ones. The first
/// refusal or slow lookup is kept for the error message.
#[derive(Clone)]
struct CheckingResolver {
    policy: Arc<HttpDesigns>,
    refused: Arc<Mutex<Option<String>>>,
    dns_slow: Arc<Mutex<Option<String>>>,
    lookup: Lookup,
}

impl CheckingResolver {
    /// Looks `netloc` up on a thread of its own, waiting at most the DNS time limit (a
    /// lookup that hangs is left to finish on its own thread).
    fn lookup_within_limit(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let (send, answer) = std::sync::mpsc::channel();
        let (lookup, name) = (self.lookup, netloc.to_string());
        std::thread::Builder::new()
            .name("render-engine-dns".into())
            .spawn(move || {
                let _ = send.send(lookup(&name));
            })?;
        let limit = self.policy.dns_timeout;
        answer.recv_timeout(limit).unwrap_or_else(|_| {
            let host = netloc.rsplit_once(':').map_or(netloc, |(h, _)| h);
            let message = format!(
                "the DNS lookup of `{host}` did not answer within {:.1} s",
                limit.as_secs_f64()
            );
            let mut slot = self.dns_slow.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(message.clone());
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message))
        })
    }
}

impl ureq::Resolver for CheckingResolver {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<SocketAddr>> {
        let addrs = self.lookup_within_limit(netloc)?;
        // Only checked addresses are handed to the client; a name with no acceptable
        // address at all is refused with the reason of its first one.
        let mut first_refusal = None;
        let mut checked = Vec::new();
        for addr in addrs {
            match self.policy.refusal(addr.ip()) {
                None => checked.push(addr),
                Some(why) => {
                    first_refusal.get_or_insert((addr.ip(), why));
                }
            }
        }
        match (checked.is_empty(), first_refusal) {
            (true, Some((ip, why))) => {
                let host = netloc.rsplit_once(':').map_or(netloc, |(h, _)| h);
                let message = format!("`{host}` resolves to {ip}, {why}");
                let mut slot = self.refused.lock().unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert(message.clone());
                Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    message,
                ))
            }
            _ => Ok(checked),
        }
    }
}

/// Downloads the design at `url` (an `http://` or `https://` URL) under `policy`, reading
/// at most `max_bytes`. Blocking: call it from a blocking task.
///
/// Errors: `E_VALIDATION` on field `design` (refused address, bad status, unreachable
/// host, too many redirects, too slow), `E_IMAGE_TOO_LARGE` past `max_bytes`.
pub(crate) fn fetch(url: &str, policy: &HttpDesigns, max_bytes: u64) -> Result<Vec<u8>> {
    fetch_with(url, policy, max_bytes, system_lookup)
}

/// The TLS settings of ureq's own default (ring, TLS 1.2 and 1.3, the public web's
/// roots) plus `extra` roots.
fn tls_config(extra: &[Vec<u8>]) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for (i, der) in extra.iter().enumerate() {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.as_slice()))
            .map_err(|e| {
                Error::validation(
                    "http.extra_roots",
                    format!("root certificate {i} is not a usable DER certificate: {e}"),
                )
            })?;
    }
    let config = rustls::ClientConfig::builder_with_provider(
        rustls::crypto::ring::default_provider().into(),
    )
    .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])
    .map_err(|e| Error::Internal(format!("the TLS settings are refused: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

fn fetch_with(url: &str, policy: &HttpDesigns, max_bytes: u64, lookup: Lookup) -> Result<Vec<u8>> {
    let refused = Arc::new(Mutex::new(None));
    let dns_slow = Arc::new(Mutex::new(None));
    let resolver = CheckingResolver {
        policy: Arc::new(policy.clone()),
        refused: refused.clone(),
        dns_slow: dns_slow.clone(),
        lookup,
    };
    let mut agent = ureq::AgentBuilder::new();
    if !policy.extra_roots.is_empty() {
        agent = agent.tls_config(tls_config(&policy.extra_roots)?);
    }
    let agent = agent
        .resolver(resolver)
        .timeout(policy.timeout)
        // ureq gives up when the number of responses reaches its limit, so it follows one
        // redirect fewer than that: ask for one more. With 0 it follows none and returns
        // the 3xx response, refused below.
        .redirects(match policy.max_redirects {
            0 => 0,
            n => n.saturating_add(1),
        })
        .user_agent(concat!("render-engine/", env!("CARGO_PKG_VERSION")))
        .build();
    let secs = policy.timeout.as_secs_f64();
    let fail = |message: String| Error::validation("design", message);
    let response = agent.get(url).call().map_err(|e| {
        if let Some(why) = refused.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return fail(format!(
                "`{url}` is refused: {why}; design URLs must point to a public server \
                 (or allow the range in the engine's http settings)"
            ));
        }
        if let Some(why) = dns_slow.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return fail(format!(
                "`{url}` cannot be downloaded: {why}; check the host name or upload the bytes"
            ));
        }
        match e {
            ureq::Error::Status(code, _) => fail(format!(
                "`{url}` answered HTTP {code}; give a URL that serves the design file"
            )),
            ureq::Error::Transport(t) => {
                let text = t.to_string();
                if t.kind() == ureq::ErrorKind::TooManyRedirects {
                    fail(format!(
                        "`{url}` redirects more than {} times; give the file's final URL",
                        policy.max_redirects
                    ))
                } else if is_timeout(&text) {
                    fail(format!(
                        "`{url}` did not send the design within {secs:.1} s; give a faster \
                         server or upload the bytes"
                    ))
                } else {
                    fail(format!("`{url}` cannot be downloaded: {text}"))
                }
            }
        }
    })?;
    // ureq hands back a 3xx response itself when it follows no redirects
    // (`max_redirects` 0) or cannot follow this one (no `Location`); its body is not
    // the design.
    let code = response.status();
    if (300..400).contains(&code) {
        return Err(fail(if response.header("location").is_some() {
            format!(
                "`{url}` redirects more than {} times; give the file's final URL",
                policy.max_redirects
            )
        } else {
            format!("`{url}` answered HTTP {code}; give a URL that serves the design file")
        }));
    }
    if let Some(len) = response
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        if len > max_bytes {
            return Err(super::submit::too_large(len, max_bytes));
        }
    }
    let mut bytes = Vec::new();
    response
        .into_reader()
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            if is_timeout(&e.to_string()) || e.kind() == std::io::ErrorKind::TimedOut {
                fail(format!(
                    "`{url}` did not send the design within {secs:.1} s; give a faster \
                     server or upload the bytes"
                ))
            } else {
                fail(format!("reading `{url}` failed: {e}"))
            }
        })?;
    if bytes.len() as u64 > max_bytes {
        return Err(super::submit::too_large(bytes.len() as u64, max_bytes));
    }
    Ok(bytes)
}

fn is_timeout(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("timed out") || text.contains("timeout") || text.contains("deadline")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        refused_kind(text.parse().unwrap()).is_some()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for a in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.127.255.254",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::127.0.0.1",
        ] {
            assert!(refused(a), "{a} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(!refused(a), "{a} should be allowed");
        }
    }

    #[test]
    fn ranges_parse_and_match() {
        let r: IpRange = "127.0.0.0/8".parse().unwrap();
        assert!(r.contains("127.1.2.3".parse().unwrap()));
        assert!(!r.contains("128.0.0.1".parse().unwrap()));
        assert!(!r.contains("::1".parse().unwrap()));
        let one: IpRange = "127.0.0.1".parse().unwrap();
        assert_eq!(one.prefix, 32);
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6: IpRange = "[::1]".parse().unwrap();
        assert!(v6.contains("::1".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("10.0.0.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nonsense".parse::<IpRange>().is_err());
    }

    fn slow_lookup(_: &str) -> std::io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(3));
        Err(std::io::Error::other("no such host"))
    }

    #[test]
    fn a_hung_dns_lookup_fails_at_its_own_time_limit() {
        let policy = HttpDesigns::enabled().with_dns_timeout(Duration::from_millis(200));
        let err =
            fetch_with("http://slow.example/d.png", &policy, 1 << 20, slow_lookup).unwrap_err();
        assert_eq!(err.code(), "E_VALIDATION");
        assert!(
            err.to_string()
                .contains("the DNS lookup of `slow.example` did not answer within 0.2 s"),
            "{err}"
        );
    }

    #[test]
    fn an_allowed_range_lifts_only_its_own_refusal() {
        let policy = HttpDesigns::enabled().allow("127.0.0.1/32".parse().unwrap());
        assert_eq!(policy.refusal("127.0.0.1".parse().unwrap()), None);
        assert!(policy.refusal("127.0.0.2".parse().unwrap()).is_some());
        assert!(policy.refusal("10.0.0.1".parse().unwrap()).is_some());
        assert!(policy.refusal("169.254.169.254".parse().unwrap()).is_some());
    }
}
