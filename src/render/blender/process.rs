//! Running a child process under supervision: its own process group, every output line
//! delivered as it arrives, a deadline and cancellation that stop the whole group (SIGINT,
//! a grace period, then SIGKILL), so no process is ever left behind.

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::cancel::CancelToken;

/// How long a supervised process may run and how it is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RunLimits {
    /// The deadline, counted from the start.
    pub timeout: Duration,
    /// How long the group gets to exit after SIGINT before SIGKILL.
    pub grace: Duration,
}

impl Default for RunLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            grace: Duration::from_secs(3),
        }
    }
}

/// How a supervised run ended. A timeout or a cancel wins over whatever the process did
/// or printed after it was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RunOutcome {
    /// The process exited by itself.
    Exited(ExitStatus),
    /// The deadline passed; the group was stopped.
    TimedOut,
    /// The caller cancelled; the group was stopped.
    Cancelled,
}

/// Runs `command` in a new process group, calling `on_line` for each line it prints on
/// stdout or stderr, until it exits, `limits.timeout` passes or `cancel` is set.
///
/// When it stops the run, the whole group gets SIGINT, then SIGKILL after the grace
/// period; when the leader exits by itself, stragglers left in its group are killed too.
pub(super) fn run_supervised(
    mut command: Command,
    limits: RunLimits,
    cancel: &CancelToken,
    mut on_line: impl FnMut(&str),
) -> std::io::Result<RunOutcome> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = command.spawn()?;
    let group = child.id() as i32;
    let (sender, lines) = mpsc::channel::<String>();
    let readers = [
        child
            .stdout
            .take()
            .map(|out| spawn_reader(out, sender.clone())),
        child
            .stderr
            .take()
            .map(|err| spawn_reader(err, sender.clone())),
    ];
    drop(sender);

    let started = Instant::now();
    let mut stop_reason = None;
    let status = loop {
        match lines.recv_timeout(Duration::from_millis(25)) {
            Ok(line) => {
                if stop_reason.is_none() {
                    on_line(&line);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if stop_reason.is_none() {
            if cancel.is_cancelled() {
                stop_reason = Some(RunOutcome::Cancelled);
            } else if started.elapsed() >= limits.timeout {
                stop_reason = Some(RunOutcome::TimedOut);
            }
            if stop_reason.is_some() {
                break stop_group(&mut child, group, limits.grace)?;
            }
        }
    };
    // Whatever the leader left running in its group goes too.
    signal_group(group, libc::SIGKILL);
    for line in lines.try_iter() {
        if stop_reason.is_none() {
            on_line(&line);
        }
    }
    for reader in readers.into_iter().flatten() {
        let _ = reader.join();
    }
    for line in lines.try_iter() {
        if stop_reason.is_none() {
            on_line(&line);
        }
    }
    Ok(stop_reason.unwrap_or(RunOutcome::Exited(status)))
}

/// SIGINT to the group, up to `grace` for it to exit, then SIGKILL; reaps the leader.
fn stop_group(child: &mut Child, group: i32, grace: Duration) -> std::io::Result<ExitStatus> {
    signal_group(group, libc::SIGINT);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    signal_group(group, libc::SIGKILL);
    child.wait()
}

fn signal_group(group: i32, signal: i32) {
    // SAFETY: killpg only sends a signal; an already-empty group yields ESRCH, ignored.
    unsafe {
        libc::killpg(group, signal);
    }
}

fn spawn_reader(
    stream: impl Read + Send + 'static,
    sender: mpsc::Sender<String>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buffer);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if sender.send(line).is_err() {
                        break;
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    fn limits(timeout_ms: u64, grace_ms: u64) -> RunLimits {
        RunLimits {
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(grace_ms),
        }
    }

    #[test]
    fn lines_from_both_streams_arrive_and_the_exit_code_is_kept() {
        let mut seen = Vec::new();
        let outcome = run_supervised(
            sh("echo one; echo two >&2; printf 'no newline'; exit 3"),
            limits(10_000, 100),
            &CancelToken::new(),
            |line| seen.push(line.to_string()),
        )
        .unwrap();
        match outcome {
            RunOutcome::Exited(status) => assert_eq!(status.code(), Some(3)),
            other => panic!("{other:?}"),
        }
        seen.sort();
        assert_eq!(seen, ["no newline", "one", "two"]);
    }

    #[test]
    fn a_timeout_stops_a_process_that_ignores_sigint_and_its_children() {
        let pid_file = std::env::temp_dir().join(format!("re-grandchild-{}", std::process::id()));
        let script = format!(
            "trap '' INT; sleep 30 & echo $! > {}; echo started; wait",
            pid_file.display()
        );
        let started = Instant::now();
        let mut late_lines = 0;
        let outcome = run_supervised(sh(&script), limits(300, 200), &CancelToken::new(), |l| {
            if l != "started" {
                late_lines += 1;
            }
        })
        .unwrap();
        assert_eq!(outcome, RunOutcome::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5));
        let grandchild: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(&pid_file);
        // The killed grandchild is reaped by init shortly after; give it a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(grandchild) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(grandchild), "the grandchild {grandchild} survived");
        assert_eq!(late_lines, 0);
    }

    #[test]
    fn cancel_wins_over_what_the_process_prints_afterwards() {
        let cancel = CancelToken::new();
        let trigger = cancel.clone();
        let mut after_cancel = Vec::new();
        let outcome = run_supervised(
            sh("echo ready; trap 'echo finished anyway; exit 0' INT; while true; do sleep 0.05; done"),
            limits(10_000, 2_000),
            &cancel,
            |line| {
                if line == "ready" {
                    trigger.cancel();
                } else {
                    after_cancel.push(line.to_string());
                }
            },
        )
        .unwrap();
        assert_eq!(outcome, RunOutcome::Cancelled);
        assert!(after_cancel.is_empty(), "{after_cancel:?}");
    }

    #[test]
    fn a_missing_program_is_an_io_error() {
        let err = run_supervised(
            Command::new("/nonexistent/blender"),
            RunLimits::default(),
            &CancelToken::new(),
            |_| {},
        )
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    }
}
