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
        if leader_exited(&child)? {
            // Whatever the leader left running in its group goes too: signalled while the
            // leader's zombie still holds the group id, then reaped. A group whose leader
            // was reaped is never signalled (its id may already name another group).
            signal_group(group, libc::SIGKILL);
            break child.wait()?;
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

/// SIGINT to the group, up to `grace` for it to exit, then SIGKILL to the whole group
/// (stragglers included); reaps the leader last.
fn stop_group(child: &mut Child, group: i32, grace: Duration) -> std::io::Result<ExitStatus> {
    signal_group(group, libc::SIGINT);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !leader_exited(child)? {
        thread::sleep(Duration::from_millis(20));
    }
    signal_group(group, libc::SIGKILL);
    child.wait()
}

/// Whether the leader has exited, without reaping it: its zombie keeps the process and
/// group ids taken, so the group can still be signalled safely.
fn leader_exited(child: &Child) -> std::io::Result<bool> {
    loop {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter; WNOWAIT leaves the child
        // waitable, so `Child::wait` still reaps it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        let r = unsafe { libc::waitid(libc::P_PID, child.id(), &mut info, flags) };
        if r == 0 {
            // SAFETY: waitid filled `info` (si_pid 0: no child has changed state).
            return Ok(unsafe { info.si_pid() } != 0);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn signal_group(group: i32, signal: i32) {
    #[cfg(test)]
    tests::note_signal(group);
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
    use std::cell::Cell;

    thread_local! {
        /// Signals this thread sent to a group whose leader was already reaped.
        static AFTER_REAP: Cell<usize> = const { Cell::new(0) };
    }

    /// Called before every group signal: counts it when the leader (pid = group id) is
    /// no longer a waitable child of ours, i.e. was reaped and its id freed for reuse.
    pub(super) fn note_signal(group: i32) {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: only asks; WNOWAIT reaps nothing.
        let r = unsafe { libc::waitid(libc::P_PID, group as libc::id_t, &mut info, flags) };
        if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            AFTER_REAP.with(|n| n.set(n.get() + 1));
        }
    }

    #[test]
    fn no_signal_reaches_a_group_after_its_leader_was_reaped() {
        AFTER_REAP.with(|n| n.set(0));
        let pid_file = std::env::temp_dir().join(format!("re-straggler-{}", std::process::id()));
        // Exits by itself (leaving a straggler), is stopped at its deadline, is cancelled.
        let straggler = format!("sleep 30 & echo $! > {}; exit 0", pid_file.display());
        let runs = [
            (straggler.as_str(), limits(10_000, 100), false),
            ("exit 4", limits(10_000, 100), false),
            ("sleep 30", limits(100, 100), false),
            (
                "trap 'exit 0' INT; while true; do sleep 0.02; done",
                limits(10_000, 2_000),
                true,
            ),
        ];
        for (script, limits, cancelled) in runs {
            let cancel = CancelToken::new();
            if cancelled {
                cancel.cancel();
            }
            run_supervised(sh(script), limits, &cancel, |_| {}).unwrap();
        }
        assert_dies(&pid_file, "the straggler");
        assert_eq!(AFTER_REAP.with(Cell::get), 0, "signals sent after the reap");
    }

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    fn alive(pid: i32) -> bool {
        // SAFETY: signal 0 only checks that the process exists.
        unsafe { libc::kill(pid, 0) == 0 }
    }

    /// Reads the pid a test script wrote to `pid_file` (and removes the file), then
    /// asserts that process is gone within 2 s: a killed process is reaped by init
    /// shortly after, so give it a moment.
    fn assert_dies(pid_file: &std::path::Path, what: &str) {
        let pid: i32 = std::fs::read_to_string(pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _ = std::fs::remove_file(pid_file);
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(pid) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        assert!(!alive(pid), "{what} {pid} survived");
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
        assert_dies(&pid_file, "the grandchild");
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
