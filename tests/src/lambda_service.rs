//! `temporal-serverless lambda` (the local Lambda service) as a test process, and raw HTTP to it:
//! tests speak Lambda's wire protocol themselves rather than through a client library.

use crate::{free_port, stop_process_group};
use serde_json::Value;
use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running service, stopped (with every function process it started) when dropped.
pub struct LambdaService {
    child: Child,
    stopped: bool,
    /// Where it listens (`127.0.0.1:port`).
    pub address: String,
    /// Its JSON-lines invocation records.
    pub records_path: PathBuf,
}

impl LambdaService {
    /// Starts `cli lambda` with `args` (functions, timeout, env, …) on a free port; its output
    /// (and the functions') goes to `log`, or nowhere.
    pub fn start(cli: &Path, args: &[String], log: Option<&Path>) -> Self {
        Self::start_at(cli, &format!("127.0.0.1:{}", free_port()), args, log)
    }

    /// [`LambdaService::start`] on `address`, chosen beforehand (e.g. for the server's
    /// `AWS_ENDPOINT_URL_LAMBDA`).
    pub fn start_at(cli: &Path, address: &str, args: &[String], log: Option<&Path>) -> Self {
        let address = address.to_owned();
        let records_path = std::env::temp_dir().join(format!(
            "tsls-records-{}-{}.jsonl",
            std::process::id(),
            free_port()
        ));
        let _ = std::fs::remove_file(&records_path);
        // Appended to: a service started again (a restart, for cold starts) keeps what the one
        // before it logged.
        let output = match log {
            Some(path) => Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("the log file opens"),
            ),
            None => Stdio::null(),
        };
        // Its own process group, so that stopping it stops the function processes too.
        let child = Command::new(cli)
            .args(["lambda", "--listen", &address])
            .args(["--records", records_path.to_str().unwrap()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(output)
            .process_group(0)
            .spawn()
            .expect("the local Lambda service starts");
        let mut service = Self {
            child,
            stopped: false,
            address,
            records_path,
        };
        let started = Instant::now();
        while TcpStream::connect(&service.address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the local Lambda service did not listen"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Something answering there is not proof it is the service: if it could not bind, it
        // has exited (`cannot listen on …`) and another process owns the port.
        std::thread::sleep(Duration::from_millis(50));
        if let Ok(Some(status)) = service.child.try_wait() {
            panic!(
                "the local Lambda service exited ({status}): {} is taken by another process",
                service.address
            );
        }
        service
    }

    /// The service's PID: the parent of its function processes.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the service and every function process it started (also done when dropped).
    pub fn stop(&mut self) {
        if !self.stopped {
            // The service stops its function processes when it gets SIGTERM.
            stop_process_group(&mut self.child, Duration::from_secs(3));
            self.stopped = true;
        }
    }

    /// `http://127.0.0.1:port`, for `AWS_ENDPOINT_URL_LAMBDA` and `doctor --lambda-endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// A raw HTTP/1.1 exchange: (status, lower-cased headers, body).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.address).unwrap();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-length: {}\r\n",
            self.address,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, head.to_lowercase(), body.to_owned())
    }

    /// Lambda's Invoke.
    pub fn invoke(
        &self,
        function: &str,
        invocation_type: &str,
        payload: Value,
    ) -> (u16, String, String) {
        self.request(
            "POST",
            &format!("/2015-03-31/functions/{function}/invocations"),
            &[("x-amz-invocation-type", invocation_type)],
            &payload.to_string(),
        )
    }

    /// Every invocation recorded so far (recorded when it ends).
    pub fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.records_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for LambdaService {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(&self.records_path);
    }
}
