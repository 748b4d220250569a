//! Test support (feature `testing`): a real `redis-server` on a free loopback port,
//! killed on drop, and `redis-cli` to reach it as another client would; shared by the
//! store's tests and bench and the end-to-end suite.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process this test owns.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// A server on a free port, answering PING.
    pub fn running() -> Self {
        let mut server = Self::stopped();
        server.start();
        server
    }

    /// A free port with no server yet: `url` refuses connections until `start`.
    pub fn stopped() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
        let port = listener.local_addr().expect("bound address").port();
        Self { port, child: None }
    }

    /// The server's `redis://` URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts the server on this port (again) and waits until it answers PING.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "cannot start redis-server ({error}): the Redis tests need it on PATH \
                     (apt-get install redis-server)"
                )
            });
        self.child = Some(child);
        self.wait_for_pong();
    }

    /// Runs `redis-cli -p <port>` with `args` and returns what it printed: a test acting
    /// as any other Redis client would.
    pub fn cli<Arg: AsRef<OsStr>>(&self, args: impl IntoIterator<Item = Arg>) -> String {
        let output = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("cannot run redis-cli ({error}): is it on PATH?"));
        assert!(
            output.status.success(),
            "redis-cli on port {} failed: {}",
            self.port,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Kills the server; clients see their connections drop.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill redis-server");
            child.wait().expect("reap redis-server");
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open but nothing answers, as with
    /// a Redis stuck in a long command or a stalled host.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} redis-server failed");
    }

    fn wait_for_pong(&mut self) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll redis-server"))
            {
                panic!(
                    "redis-server on port {} exited at startup: {status}",
                    self.port
                );
            }
            if pong(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server on port {} did not answer PING within {STARTUP_TIMEOUT:?}",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn pong(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut reply = [0; 7];
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .expect("set read timeout");
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
