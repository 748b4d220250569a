//! `archway serve` as a process: it proxies with one worker (a current-thread runtime)
//! and with several (a multi-thread one).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// An upstream that answers every request `hello` and closes the connection.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut head = Vec::new();
            let mut byte = [0; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";
            let _ = stream.write_all(answer);
        }
    });
    port
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// The gateway process; killed when dropped, so a failed test leaves none behind.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path, workers: usize, port: u16, upstream: u16) -> Gateway {
    let config = dir.join(format!("archway-{workers}.toml"));
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = {workers}\n\
             cache_dir = \"cache-{workers}\"\n\
             [store]\npath = \"store-{workers}.redb\"\n\
             [log]\nlevel = \"warn\"\n\
             [[services]]\nname = \"up\"\nurl = \"http://127.0.0.1:{upstream}\"\n\
             [[routes]]\nid = \"r\"\nservice_name = \"up\"\npath_pattern = \"/r/*\"\n\
             target_url = \"/*\"\nrequires_auth = false\n"
        ),
    )
    .expect("config written");
    let child = Command::new(env!("CARGO_BIN_EXE_archway"))
        .args(["serve", "--config"])
        .arg(&config)
        .spawn()
        .expect("archway starts");
    Gateway(child)
}

/// The whole answer to `GET /r/x`, or `None` while nothing listens on `port`.
fn get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout set");
    stream
        .write_all(b"GET /r/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

#[test]
fn it_proxies_with_one_worker_and_with_several() {
    let upstream = upstream();
    let dir = tempfile::tempdir().expect("temp dir");
    for workers in [1, 2] {
        let port = free_port();
        let mut gateway = serve(dir.path(), workers, port, upstream);
        let started = Instant::now();
        let answer = loop {
            if let Some(answer) = get(port) {
                break answer;
            }
            assert!(
                gateway.0.try_wait().expect("status").is_none(),
                "archway with {workers} workers exited"
            );
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "archway with {workers} workers did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "{workers} workers: {answer}"
        );
        assert!(answer.ends_with("hello"), "{workers} workers: {answer}");
    }
}
