//! Reading Blender's output: the script's machine-readable lines and Blender's own
//! `Fra:` / `Sample a/b` / `Saved:` lines, turned into progress.
//!
//! The render scripts print one JSON object per line after the `RENDER_ENGINE ` prefix
//! (`{"event": "progress" | "result" | "error", ...}`). When a script is silent (or an
//! older script runs), Blender's own status lines still give frame and sample progress.

use std::collections::VecDeque;
use std::time::Duration;

/// The prefix of every machine-readable line the project's Blender scripts print.
pub(super) const SCRIPT_LINE_PREFIX: &str = "RENDER_ENGINE ";

/// One meaningful line of Blender's output.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum LogLine {
    /// The script reports progress: `done` of `total` units of `stage`.
    ScriptProgress {
        /// What is being rendered (`still`, `turntable`, ...).
        stage: String,
        /// Units finished.
        done: u64,
        /// Units in all.
        total: u64,
    },
    /// The script finished and reports what it wrote.
    ScriptResult(serde_json::Value),
    /// The script reports a failure it detected itself.
    ScriptError {
        /// A stable code when the script knows one (`E_VALIDATION`, ...).
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// Blender's status line for a frame: `Fra:3 ... | Sample 5/16`.
    Sample {
        /// The frame being rendered.
        frame: u64,
        /// Samples done.
        done: u64,
        /// Samples per pixel in all.
        total: u64,
    },
    /// Blender wrote an image: `Saved: '/path/frame_0001.png'`.
    Saved(String),
    /// Blender reported an error: `Error: ...`.
    Error(String),
}

/// Parses one line of output; `None` for lines that carry nothing useful.
pub(super) fn parse_line(line: &str) -> Option<LogLine> {
    let line = line.trim_end_matches(['\r', '\n']);
    if let Some(json) = line.strip_prefix(SCRIPT_LINE_PREFIX) {
        return parse_script_line(json);
    }
    if let Some(rest) = line.strip_prefix("Saved: ") {
        let path = rest.trim().trim_matches('\'').trim_matches('"');
        return Some(LogLine::Saved(path.to_string()));
    }
    if let Some(rest) = line.strip_prefix("Error: ") {
        return Some(LogLine::Error(rest.trim().to_string()));
    }
    if let Some(rest) = line.strip_prefix("Fra:") {
        let frame: u64 = rest.split_whitespace().next()?.parse().ok()?;
        let status = line.rsplit(" | ").next()?;
        let (done, total) = status.strip_prefix("Sample ")?.split_once('/')?;
        return Some(LogLine::Sample {
            frame,
            done: done.trim().parse().ok()?,
            total: total.trim().parse().ok()?,
        });
    }
    None
}

fn parse_script_line(json: &str) -> Option<LogLine> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let number = |key: &str| value.get(key).and_then(|v| v.as_u64());
    match value.get("event")?.as_str()? {
        "progress" => Some(LogLine::ScriptProgress {
            stage: text("stage").unwrap_or_default(),
            done: number("done")?,
            total: number("total")?,
        }),
        "result" => Some(LogLine::ScriptResult(value)),
        "error" => Some(LogLine::ScriptError {
            code: text("code"),
            message: text("message").unwrap_or_else(|| "the script failed".into()),
        }),
        _ => None,
    }
}

/// Progress of one Blender run, as a fraction with an estimate of the time left.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Progress {
    /// From 0.0 to 1.0; never decreases during a run.
    pub fraction: f64,
    /// The time left, once enough progress was seen to estimate it.
    pub eta: Option<Duration>,
}

/// Turns parsed lines into monotonic progress for a run of `frames` frames.
///
/// Script progress lines win when present; otherwise each `Sample a/b` line counts as
/// `(frames done + a/b) / frames`.
#[derive(Debug, Clone)]
pub(super) struct ProgressTracker {
    frames: u64,
    frames_done: u64,
    last_frame: Option<u64>,
    fraction: f64,
}

impl ProgressTracker {
    /// A tracker for a run that renders `frames` frames (at least 1).
    pub(super) fn new(frames: u64) -> Self {
        Self {
            frames: frames.max(1),
            frames_done: 0,
            last_frame: None,
            fraction: 0.0,
        }
    }

    /// Feeds one parsed line, `elapsed` after the run started. Returns the new progress
    /// when the line moved it forward.
    pub(super) fn observe(&mut self, line: &LogLine, elapsed: Duration) -> Option<Progress> {
        let candidate = match line {
            LogLine::ScriptProgress { done, total, .. } if *total > 0 => {
                (*done as f64 / *total as f64).min(1.0)
            }
            LogLine::Sample {
                frame, done, total, ..
            } if *total > 0 => {
                if self.last_frame.is_some_and(|last| last != *frame) {
                    self.frames_done += 1;
                }
                self.last_frame = Some(*frame);
                let within = (*done as f64 / *total as f64).min(1.0);
                ((self.frames_done as f64 + within) / self.frames as f64).min(1.0)
            }
            _ => return None,
        };
        if candidate <= self.fraction {
            return None;
        }
        self.fraction = candidate;
        let eta = (candidate >= 0.02).then(|| {
            let total = elapsed.as_secs_f64() / candidate;
            Duration::from_secs_f64((total - elapsed.as_secs_f64()).max(0.0))
        });
        Some(Progress {
            fraction: candidate,
            eta,
        })
    }

    /// The progress so far.
    #[cfg(test)]
    fn fraction(&self) -> f64 {
        self.fraction
    }
}

/// The last lines of a process's output, kept for error messages.
#[derive(Debug, Clone)]
pub(super) struct LogTail {
    lines: VecDeque<String>,
    capacity: usize,
}

impl LogTail {
    /// Keeps at most `capacity` lines.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            lines: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    /// Adds a line, dropping the oldest when full.
    pub(super) fn push(&mut self, line: &str) {
        if self.lines.len() == self.capacity {
            self.lines.pop_front();
        }
        self.lines.push_back(line.trim_end().to_string());
    }

    /// The kept lines joined with newlines.
    pub(super) fn text(&self) -> String {
        self.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_FRAMES: &str = include_str!("../../../tests/fixtures/blender/cycles-two-frames.log");
    const NO_DENOISER: &str = include_str!("../../../tests/fixtures/blender/denoiser-missing.log");

    #[test]
    fn parses_real_sample_lines() {
        let line = "Fra:1 Mem:10.36M (Peak 10.47M) | Time:00:00.30 | Remaining:00:00.08 | Mem:0.90M, Peak:0.90M | Scene, ViewLayer | Sample 1/4";
        assert_eq!(
            parse_line(line),
            Some(LogLine::Sample {
                frame: 1,
                done: 1,
                total: 4
            })
        );
        let status = "Fra:1 Mem:9.71M (Peak 9.71M) | Time:00:00.17 | Mem:0.00M, Peak:0.00M | Scene, ViewLayer | Updating Objects";
        assert_eq!(parse_line(status), None);
        assert_eq!(
            parse_line("Saved: '/tmp/bl/out_0001.png'"),
            Some(LogLine::Saved("/tmp/bl/out_0001.png".into()))
        );
        assert_eq!(
            parse_line("Error: Build without OpenImageDenoiser"),
            Some(LogLine::Error("Build without OpenImageDenoiser".into()))
        );
    }

    #[test]
    fn parses_script_lines() {
        let progress =
            r#"RENDER_ENGINE {"event":"progress","stage":"turntable","done":3,"total":24}"#;
        assert_eq!(
            parse_line(progress),
            Some(LogLine::ScriptProgress {
                stage: "turntable".into(),
                done: 3,
                total: 24
            })
        );
        let error =
            r#"RENDER_ENGINE {"event":"error","code":"E_VALIDATION","message":"atlas missing"}"#;
        assert_eq!(
            parse_line(error),
            Some(LogLine::ScriptError {
                code: Some("E_VALIDATION".into()),
                message: "atlas missing".into()
            })
        );
        let result = r#"RENDER_ENGINE {"event":"result","outputs":["a.png"]}"#;
        assert!(matches!(parse_line(result), Some(LogLine::ScriptResult(_))));
        assert_eq!(parse_line("RENDER_ENGINE not json"), None);
        assert_eq!(parse_line(r#"RENDER_ENGINE {"event":"other"}"#), None);
    }

    #[test]
    fn a_real_two_frame_log_gives_monotonic_progress_to_one() {
        let mut tracker = ProgressTracker::new(2);
        let mut seen = Vec::new();
        let mut saved = Vec::new();
        for (i, line) in TWO_FRAMES.lines().enumerate() {
            match parse_line(line) {
                Some(LogLine::Saved(path)) => saved.push(path),
                Some(parsed) => {
                    if let Some(p) = tracker.observe(&parsed, Duration::from_millis(100 * i as u64))
                    {
                        seen.push(p.fraction);
                    }
                }
                None => {}
            }
        }
        assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        assert_eq!(*seen.last().unwrap(), 1.0);
        assert!(seen.contains(&0.5), "frame 1 done is half way: {seen:?}");
        assert_eq!(saved, ["/tmp/bl/out_0001.png", "/tmp/bl/out_0002.png"]);
    }

    #[test]
    fn a_real_failure_log_yields_its_error() {
        let errors: Vec<_> = NO_DENOISER
            .lines()
            .filter_map(parse_line)
            .filter_map(|l| match l {
                LogLine::Error(e) => Some(e),
                _ => None,
            })
            .collect();
        assert_eq!(errors[0], "Build without OpenImageDenoiser");
        assert!(errors.iter().any(|e| e.starts_with("Python: Traceback")));
    }

    #[test]
    fn eta_comes_from_the_rate_so_far() {
        let mut tracker = ProgressTracker::new(1);
        let p = tracker
            .observe(
                &LogLine::Sample {
                    frame: 1,
                    done: 1,
                    total: 4,
                },
                Duration::from_secs(2),
            )
            .unwrap();
        assert_eq!(p.fraction, 0.25);
        assert_eq!(p.eta, Some(Duration::from_secs(6)));
        // Going backwards (a script restarting its count) never lowers progress.
        let back = LogLine::ScriptProgress {
            stage: "still".into(),
            done: 0,
            total: 4,
        };
        assert_eq!(tracker.observe(&back, Duration::from_secs(3)), None);
        assert_eq!(tracker.fraction(), 0.25);
    }

    #[test]
    fn the_tail_keeps_the_last_lines() {
        let mut tail = LogTail::new(2);
        for line in ["a", "b", "c\n"] {
            tail.push(line);
        }
        assert_eq!(tail.text(), "b\nc");
    }
}
