//! HTTP/1.1 over a bare TCP socket, for requests no well-behaved client would send
//! (garbage headers, truncated bodies, a body that trickles in).

use std::time::Duration;

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// What came back.
#[derive(Debug)]
pub struct RawResponse {
    /// The status code (0 when the connection closed without a response).
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Sends `request` (written by a separate task, so that an early answer is read even
/// while a large body is still going out) and reads the response until the server closes
/// or a complete response has arrived; `timeout` bounds the whole exchange.
pub async fn send(port: u16, request: Vec<u8>, timeout: Duration) -> RawResponse {
    let exchange = async {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let write = tokio::spawn(async move {
            for chunk in request.chunks(64 * 1024) {
                if writer.write_all(chunk).await.is_err() {
                    return;
                }
            }
            let _ = writer.flush().await;
            // Keep the write half open: half-closing would look like a truncated body.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let mut data = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(response) = parse(&data) {
                write.abort();
                return response;
            }
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        write.abort();
        parse(&data).unwrap_or(RawResponse {
            status: 0,
            headers: Vec::new(),
            body: data,
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or(RawResponse {
            status: 0,
            headers: vec![("x-test".into(), "timed out".into())],
            body: Vec::new(),
        })
}

/// A complete response at the start of `data`, if there is one.
fn parse(data: &[u8]) -> Option<RawResponse> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]);
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &data[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = find("content-length") {
        let len: usize = len.parse().ok()?;
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)?
    } else {
        return None; // Read to the end of the connection.
    };
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A request with `Connection: close`, a `Host` unless `headers` has one, and, when `body` is given, a matching
/// `Content-Length`. `headers` are raw lines without the CRLF.
pub fn request(method: &str, target: &str, headers: &[&str], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        out.push_str("Host: 127.0.0.1\r\n");
    }
    for header in headers {
        out.push_str(header);
        out.push_str("\r\n");
    }
    if let Some(body) = body {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    if let Some(body) = body {
        bytes.extend_from_slice(body);
    }
    bytes
}

/// A multipart/form-data body with `boundary` and these `(name, file name, content)` parts.
pub fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file_name, content) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file_name {
            Some(file) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                     Content-Type: text/csv\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}
