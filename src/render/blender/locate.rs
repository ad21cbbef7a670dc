//! Finding Blender and probing its version (once per executable).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::process::{run_supervised, RunLimits, RunOutcome};
use crate::cancel::CancelToken;
use crate::error::{Error, Result};

/// The oldest Blender the scripts are written for (Debian 12 ships 3.4).
pub(crate) const MIN_BLENDER_VERSION: BlenderVersion = BlenderVersion {
    major: 3,
    minor: 4,
    patch: 0,
};

/// How to install Blender, quoted in `E_RENDERER_UNAVAILABLE` errors.
pub(super) const INSTALL_HINT: &str = "install it with `apt-get install -y --no-install-recommends blender libegl1 libegl-mesa0 libgl1-mesa-dri`, or point BLENDER_PATH (or the blender path option) at a Blender 3.4 or newer";

/// A Blender release number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlenderVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl std::fmt::Display for BlenderVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A Blender executable that was found and probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlenderInstall {
    /// The executable.
    pub path: PathBuf,
    /// Its version.
    pub version: BlenderVersion,
}

/// Reads the version from the first line of `blender --version` (`Blender 3.4.1`).
pub(super) fn parse_version(output: &str) -> Option<BlenderVersion> {
    let line = output
        .lines()
        .find(|l| l.trim_start().starts_with("Blender "))?;
    let number = line
        .trim_start()
        .strip_prefix("Blender ")?
        .split_whitespace()
        .next()?;
    let mut parts = number.split('.').map(|p| p.parse::<u32>());
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().and_then(|p| p.ok()).unwrap_or(0);
    Some(BlenderVersion {
        major,
        minor,
        patch,
    })
}

/// Finds Blender: the explicit path when given, else `BLENDER_PATH`, else `blender` on
/// `PATH`; probes its version (cached per executable) and refuses one older than
/// [`MIN_BLENDER_VERSION`]. Failures are `E_RENDERER_UNAVAILABLE` with an install hint.
pub(super) fn locate_blender(explicit: Option<&Path>) -> Result<BlenderInstall> {
    let from_env = std::env::var_os("BLENDER_PATH").filter(|v| !v.is_empty());
    let (path, source) = match (explicit, from_env) {
        (Some(path), _) => (path.to_path_buf(), "the blender path option"),
        (None, Some(env)) => (PathBuf::from(env), "BLENDER_PATH"),
        (None, None) => match find_on_path("blender") {
            Some(path) => (path, "PATH"),
            None => {
                return Err(Error::RendererUnavailable(format!(
                    "Blender was not found on PATH; {INSTALL_HINT}"
                )))
            }
        },
    };
    let version = probe_version(&path).map_err(|why| {
        Error::RendererUnavailable(format!(
            "Blender at {} (from {source}) {why}; {INSTALL_HINT}",
            path.display()
        ))
    })?;
    if version < MIN_BLENDER_VERSION {
        return Err(Error::RendererUnavailable(format!(
            "Blender at {} is version {version}, older than {MIN_BLENDER_VERSION}; {INSTALL_HINT}",
            path.display()
        )));
    }
    Ok(BlenderInstall { path, version })
}

/// The longest `blender --version` may take: a first start loads Python and the GPU
/// libraries from a cold disk in a few seconds; a hung one must not hang the caller.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The caller's environment variables Blender gets (exact names, then prefixes): what it
/// needs to find its libraries, fonts, locale, temporary directory and GPU, and nothing
/// else, so no database URL, cloud key or token of the caller reaches its scripts.
const PASSED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_CACHE_HOME",
    "XDG_DATA_HOME",
    "LD_LIBRARY_PATH",
    "OCIO",
];
const PASSED_ENV_PREFIXES: &[&str] = &["LC_", "BLENDER_", "MESA_", "LIBGL_", "__EGL_", "__GLX_"];

/// Gives `command` the minimal environment Blender runs with (see [`PASSED_ENV`]).
pub(crate) fn minimal_env(command: &mut Command) {
    command.env_clear();
    for (name, value) in std::env::vars_os() {
        let Some(text) = name.to_str() else { continue };
        if PASSED_ENV.contains(&text) || PASSED_ENV_PREFIXES.iter().any(|p| text.starts_with(p)) {
            command.env(&name, value);
        }
    }
}

fn probe_version(path: &Path) -> std::result::Result<BlenderVersion, String> {
    probe_version_within(path, PROBE_TIMEOUT)
}

fn probe_version_within(
    path: &Path,
    timeout: Duration,
) -> std::result::Result<BlenderVersion, String> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, BlenderVersion>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(version) = cache.lock().expect("version cache").get(path) {
        return Ok(*version);
    }
    let mut command = Command::new(path);
    command.arg("--version");
    minimal_env(&mut command);
    let mut text = String::new();
    let limits = RunLimits {
        timeout,
        grace: Duration::from_millis(500),
    };
    let outcome = run_supervised(command, limits, &CancelToken::new(), |line| {
        text.push_str(line);
        text.push('\n');
    })
    .map_err(|e| format!("could not be run ({e})"))?;
    let status = match outcome {
        RunOutcome::Exited(status) => status,
        _ => return Err(format!("did not answer `--version` within {timeout:.0?}")),
    };
    let version = parse_version(&text).ok_or_else(|| {
        format!(
            "did not report a version (exit status {status}, first line {:?})",
            text.lines().next().unwrap_or("")
        )
    })?;
    cache
        .lock()
        .expect("version cache")
        .insert(path.to_path_buf(), version);
    Ok(version)
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn versions_parse_from_real_output() {
        let v = parse_version("Blender 3.4.1\n\tbuild date: 2023-01-03\n").unwrap();
        assert_eq!(v.to_string(), "3.4.1");
        assert_eq!(parse_version("Blender 4.2").unwrap().to_string(), "4.2.0");
        assert_eq!(
            parse_version("Color management: ...\nBlender 2.93.5 (sub 0)")
                .unwrap()
                .minor,
            93
        );
        assert!(parse_version("bash: blender: command not found").is_none());
        assert!(
            BlenderVersion {
                major: 2,
                minor: 93,
                patch: 5
            } < MIN_BLENDER_VERSION
        );
    }

    fn fake_blender(dir: &Path, version_line: &str) -> PathBuf {
        let path = dir.join("blender");
        std::fs::write(&path, format!("#!/bin/sh\necho '{version_line}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn an_explicit_path_is_probed_and_old_versions_refused() {
        let dir = std::env::temp_dir().join(format!("re-locate-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("new")).unwrap();
        std::fs::create_dir_all(dir.join("old")).unwrap();
        let new = fake_blender(&dir.join("new"), "Blender 4.1.0");
        let found = locate_blender(Some(&new)).unwrap();
        assert_eq!(found.version.to_string(), "4.1.0");

        let old = fake_blender(&dir.join("old"), "Blender 2.93.1");
        let err = locate_blender(Some(&old)).unwrap_err();
        assert_eq!(err.code(), "E_RENDERER_UNAVAILABLE");
        assert!(err.to_string().contains("older than 3.4.0"), "{err}");
        assert!(err.to_string().contains("apt-get install"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_hung_version_probe_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blender");
        std::fs::write(&path, "#!/bin/sh\nsleep 5\necho 'Blender 4.1.0'\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let why = probe_version_within(&path, Duration::from_millis(300)).unwrap_err();
        assert!(why.contains("within"), "{why}");
    }

    #[test]
    fn a_missing_executable_is_unavailable_with_a_hint() {
        let err = locate_blender(Some(Path::new("/nonexistent/blender"))).unwrap_err();
        assert_eq!(err.code(), "E_RENDERER_UNAVAILABLE");
        assert!(err.to_string().contains("could not be run"), "{err}");
        assert!(err.to_string().contains("BLENDER_PATH"), "{err}");
    }
}
