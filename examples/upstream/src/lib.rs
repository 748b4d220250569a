//! A small upstream HTTP service (HTTP/1.1 and HTTP/2) that answers every request with
//! a JSON echo of it; `GET /health` and `GET /bytes/{n}` serve probes and benchmarks,
//! and `POST /api/v1/agents/query` and `POST /api/v1/jobs/page` a task scheduler's
//! sample pages (for the aggregation example).
//!
//! Start it in-process on port 0, as tests do:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(archway_example_upstream::serve(listener));
//! println!("upstream at http://{addr}");
//! # Ok(())
//! # }
//! ```

mod orders;
mod respond;
mod scheduler;

use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

pub use respond::MAX_BYTES;

/// Serves connections accepted from `listener` until the task is dropped; never returns.
///
/// Each connection runs on its own task and speaks HTTP/1.1 or HTTP/2 (prior knowledge),
/// whichever the client opens with.
pub async fn serve(listener: tokio::net::TcpListener) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                // Usually EMFILE: back off instead of spinning on the error.
                eprintln!("upstream: accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Latency matters more than packet count for small echo responses.
        if let Err(error) = stream.set_nodelay(true) {
            eprintln!("upstream: set TCP_NODELAY failed: {error}");
        }
        let builder = builder.clone();
        tokio::spawn(async move {
            let io = TokioIo::new(stream);
            // A client hanging up mid-request is normal; there is nobody to tell.
            let _ = builder
                .serve_connection(io, service_fn(respond::respond))
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Starts the server on port 0, sends one raw HTTP/1.1 request, returns the reply.
    async fn exchange(request: &str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(super::serve(listener));
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("write request");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.expect("read reply");
        reply
    }

    fn json_body(reply: &str) -> serde_json::Value {
        let (_, body) = reply.split_once("\r\n\r\n").expect("head and body");
        serde_json::from_str(body).expect("JSON body")
    }

    #[tokio::test]
    async fn echoes_method_path_query_headers_and_body_size() {
        let reply = exchange(
            "POST /a/b?x=1 HTTP/1.1\r\nHost: t\r\nX-Test: Yes\r\n\
             Content-Length: 5\r\nConnection: close\r\n\r\nhello",
        )
        .await;
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.contains("content-type: application/json"), "{reply}");
        let echo = json_body(&reply);
        assert_eq!(echo["service"], "upstream");
        assert_eq!(echo["method"], "POST");
        assert_eq!(echo["path"], "/a/b");
        assert_eq!(echo["query"], "x=1");
        assert_eq!(echo["headers"]["x-test"], "Yes");
        assert_eq!(echo["body_bytes"], 5);
    }

    #[tokio::test]
    async fn health_reports_ok() {
        let reply = exchange("GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        assert_eq!(json_body(&reply), serde_json::json!({"status": "ok"}));
    }

    #[tokio::test]
    async fn bytes_returns_exactly_n_bytes() {
        let reply =
            exchange("GET /bytes/1000 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").await;
        let (_, body) = reply.split_once("\r\n\r\n").expect("head and body");
        assert_eq!(body.len(), 1000);
    }

    #[tokio::test]
    async fn bytes_over_the_limit_is_rejected() {
        let reply = exchange(&format!(
            "GET /bytes/{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
            super::MAX_BYTES + 1
        ))
        .await;
        assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    }
}
