//! Child processes the harness starts, each bounded in time and stopped by PID: a server waited
//! for until it answers on its loopback address ([`ServerProcess`]), and a command run to its end
//! within a limit ([`run_bounded`], [`wait_bounded`]). Each runs in a process group of its own,
//! so that stopping it stops whatever it started too.

use std::{
    io::Read,
    os::unix::process::CommandExt,
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::{Duration, Instant},
};

/// Stops a child started in its own process group, with everything it started: SIGTERM to the
/// group, up to `grace` for it to exit, then SIGKILL.
pub fn stop_process_group(child: &mut Child, grace: Duration) {
    let group = format!("-{}", child.id());
    let signal = |name: &str| {
        let _ = Command::new("kill")
            .args(["-s", name, "--", &group])
            .stderr(Stdio::null())
            .status();
    };
    signal("TERM");
    let started = Instant::now();
    while started.elapsed() < grace && matches!(child.try_wait(), Ok(None)) {
        std::thread::sleep(Duration::from_millis(50));
    }
    signal("KILL");
    let _ = child.wait();
}

/// Waits for `child` (started in its own process group) to exit, at most `timeout`: its status,
/// or `None` once the group has been stopped for taking longer.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return Some(status);
        }
        if started.elapsed() > timeout {
            stop_process_group(child, Duration::ZERO);
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `command` (`what` names it in errors) in a process group of its own, its output
/// captured, at most `timeout`: what it printed, whatever its status; `Err` if it took longer
/// (it and what it started are then stopped).
pub fn run_bounded(command: &mut Command, timeout: Duration, what: &str) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|error| panic!("{what} cannot start: {error}"));
    // Read while it runs: a child whose output fills the pipe would otherwise block until the
    // time-out.
    let stdout = read_to_end(child.stdout.take());
    let stderr = read_to_end(child.stderr.take());
    let status = wait_bounded(&mut child, timeout);
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    match status {
        Some(status) => Ok(Output {
            status,
            stdout,
            stderr,
        }),
        None => Err(format!("{what} took more than {timeout:?}")),
    }
}

/// Everything `stream` gives until it closes, read on a thread of its own.
fn read_to_end(stream: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_end(&mut bytes);
        }
        bytes
    })
}

/// A server the harness started, in a process group of its own, that answered on its address;
/// stopped (the whole group, by PID) when dropped.
pub struct ServerProcess {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub address: String,
    /// How long it has to exit on SIGTERM before it is killed.
    grace: Duration,
    stopped: bool,
}

/// How to start one [`ServerProcess`].
pub struct ServerStart<'a> {
    /// What it is, for failure messages.
    pub what: &'a str,
    /// Where it will listen.
    pub address: &'a str,
    /// How long it may take to answer.
    pub answer_timeout: Duration,
    /// How long it has to exit on SIGTERM before it is killed.
    pub stop_grace: Duration,
}

impl ServerProcess {
    /// Spawns `command` and waits until `answers(address)`. `Err(status)` if it exited first, or
    /// right after: something else answering on a port it could not bind is not it (the caller
    /// may start it again on another port). Panics after `answer_timeout`, with `output()`.
    pub fn start(
        command: &mut Command,
        start: ServerStart<'_>,
        mut answers: impl FnMut(&str) -> bool,
        output: impl Fn() -> String,
    ) -> Result<Self, ExitStatus> {
        let child = command
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|error| panic!("{} cannot start: {error}", start.what));
        let mut server = Self {
            child,
            address: start.address.to_owned(),
            grace: start.stop_grace,
            stopped: false,
        };
        let started = Instant::now();
        while !answers(&server.address) {
            if let Some(status) = server.exited() {
                return Err(status);
            }
            assert!(
                started.elapsed() < start.answer_timeout,
                "{} did not answer on {} within {:?}:\n{}",
                start.what,
                server.address,
                start.answer_timeout,
                output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // A process that could not bind exits at once, while the one owning the port answers.
        std::thread::sleep(Duration::from_millis(50));
        match server.exited() {
            Some(status) => Err(status),
            None => Ok(server),
        }
    }

    /// Its PID (the parent of what it starts, and its process group).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its exit status, once it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops it and everything it started (also done when dropped).
    pub fn stop(&mut self) {
        if !self.stopped {
            stop_process_group(&mut self.child, self.grace);
            self.stopped = true;
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether something accepts connections on `address`.
pub fn listening(address: &str) -> bool {
    std::net::TcpStream::connect(address).is_ok()
}
