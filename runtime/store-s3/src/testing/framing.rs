//! [`FramingProxy`]: an S3 server that says 200 to uploads it stores wrongly, for tests of upload
//! verification.
//!
//! s3rver 3.7.1 (npm) accepts the SDK's streamed uploads (`Content-Encoding: aws-chunked`, the
//! CRC32 in a trailer) without decoding them: it stores the chunk framing
//! (`10000;chunk-signature=…`) and the trailer as the object's bytes and answers 200. s3rver
//! needs Node and an OpenSSL workaround, so the tests play it with this proxy in front of moto
//! (which checks no signatures): it turns every `aws-chunked` request into a plain one whose body
//! is the framed bytes, as s3rver reads it. Plain uploads pass through untouched, as on s3rver.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A proxy on 127.0.0.1 in front of an S3 server; runs until the test process exits.
#[derive(Debug)]
pub struct FramingProxy {
    /// `http://127.0.0.1:PORT`: the endpoint to give the store.
    pub endpoint: String,
    mangled: Arc<AtomicUsize>,
}

impl FramingProxy {
    /// Starts one in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> FramingProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// endpoint")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let mangled = Arc::new(AtomicUsize::new(0));
        let count = mangled.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (upstream, count) = (upstream.clone(), count.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &count);
                });
            }
        });
        FramingProxy { endpoint, mangled }
    }

    /// How many uploads it stored with their framing.
    pub fn mangled(&self) -> usize {
        self.mangled.load(Ordering::Relaxed)
    }
}

/// One request per connection: read it, rewrite it if it is `aws-chunked`, forward it with
/// `Connection: close`, and relay the answer (also with `Connection: close`).
fn serve(client: TcpStream, upstream: &str, mangled: &AtomicUsize) -> io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let len: usize = get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if get("expect").is_some() {
        client.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body)?;
    let chunked = get("content-encoding").is_some_and(|v| v.contains("aws-chunked"));
    headers.retain(|(k, _)| !matches!(k.as_str(), "expect" | "connection" | "content-length"));
    if chunked && request_line.starts_with("PUT ") {
        mangled.fetch_add(1, Ordering::Relaxed);
        headers.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-encoding"
                    | "x-amz-decoded-content-length"
                    | "x-amz-trailer"
                    | "x-amz-sdk-checksum-algorithm"
                    | "x-amz-content-sha256"
            ) && !k.starts_with("x-amz-checksum-")
        });
        headers.push(("x-amz-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
    }
    let mut up = TcpStream::connect(upstream)?;
    let mut head = request_line;
    for (k, v) in &headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    // The answer's head, with `Connection: close` (this connection ends here).
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut out = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("connection: close\r\n\r\n");
    client.write_all(out.as_bytes())?;
    client.write_all(&answer[split..])?;
    client.flush()
}
