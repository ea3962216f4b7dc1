//! The HTTP side of the client: one `reqwest` client with the key, JSend answers decoded
//! into [`Job`]s or into [`ClientError::Api`] with the server's message.

use std::{path::Path, time::Duration};

use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::{Stream, StreamExt, TryStreamExt};
use reqwest::{RequestBuilder, Response, header::HeaderValue};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{ClientError, Job, ServerArgs};
use crate::domain::{JobKind, JobState};

/// How long to wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a response may stay silent; the event stream sends a keep-alive every 15 s.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Filters of `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobFilter {
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only jobs of this name (exact).
    pub name: Option<String>,
    /// Page size.
    pub limit: u32,
}

/// A client of one API with one key.
#[derive(Debug, Clone)]
pub(crate) struct ApiClient {
    http: reqwest::Client,
    /// The base URL without a trailing slash.
    base: String,
    key: HeaderValue,
}

impl ApiClient {
    /// Checks the URL and the key; makes no request.
    pub(crate) fn new(server: &ServerArgs) -> Result<Self, ClientError> {
        let key = server
            .key
            .as_deref()
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ClientError::MissingKey)?;
        let mut key = HeaderValue::from_str(key).map_err(|_| ClientError::InvalidKey)?;
        key.set_sensitive(true);
        let invalid_url = || ClientError::InvalidUrl {
            url: server.url.clone(),
        };
        let parsed = url::Url::parse(&server.url).map_err(|_| invalid_url())?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(invalid_url());
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("batch-import/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .build()
            .map_err(|source| ClientError::Request {
                url: server.url.clone(),
                source,
            })?;
        Ok(Self {
            http,
            base: parsed.as_str().trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// `{base}{path}`; `path` starts with `/`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends with the key; any status but 2xx becomes [`ClientError::Api`].
    async fn send(&self, url: &str, request: RequestBuilder) -> Result<Response, ClientError> {
        let response = request
            .header(reqwest::header::AUTHORIZATION, self.key.clone())
            .send()
            .await
            .map_err(|source| ClientError::Request {
                url: url.to_owned(),
                source,
            })?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(api_error(response).await)
        }
    }

    /// `data` of a JSend success body.
    async fn data(url: &str, response: Response) -> Result<Value, ClientError> {
        let body: Value = response
            .json()
            .await
            .map_err(|e| unexpected(url, format!("the body is not JSON ({e})")))?;
        match body {
            Value::Object(mut map) if map.get("status") == Some(&"success".into()) => map
                .remove("data")
                .ok_or_else(|| unexpected(url, "a JSend success without data")),
            _ => Err(unexpected(url, "not a JSend success body")),
        }
    }

    fn job_from(url: &str, value: Value) -> Result<Job, ClientError> {
        serde_json::from_value(value).map_err(|e| unexpected(url, format!("not a job ({e})")))
    }

    /// `POST /api/v1/{kind}/upload` with a multipart form; the accepted job.
    /// `validate_only` asks for a dry run.
    pub async fn upload(
        &self,
        kind: JobKind,
        form: reqwest::multipart::Form,
        send_error_email: bool,
        validate_only: bool,
    ) -> Result<Job, ClientError> {
        let url = self.url(&format!("/api/v1/{}/upload", kind.as_str()));
        let post = || {
            let mut request = self.http.post(&url);
            if send_error_email {
                request = request.query(&[("send_error_email", "true")]);
            }
            if validate_only {
                request = request.query(&[("validate_only", "true")]);
            }
            request
        };
        let response = match self.send(&url, post().multipart(form)).await {
            Err(ClientError::Request { source, .. }) if upload_cut_off(&source) => {
                // The API answered before it read the file — a refusal (not an admin, the
                // queue is full, maintenance) — and closed the connection, which cut the
                // upload off before its answer could be read. Asking again without the file
                // gets the same refusal, now readable; an API that would have taken the file
                // answers 400 for the missing one, and the cut-off is the error to show.
                return Err(match self.send(&url, post()).await {
                    Err(refusal @ ClientError::Api { status, .. }) if status != 400 => refusal,
                    _ => ClientError::Request { url, source },
                });
            }
            other => other?,
        };
        Self::job_from(&url, Self::data(&url, response).await?)
    }

    /// `POST /api/v1/jobs/{id}/corrections` with the corrected rows; the accepted job.
    pub(crate) async fn correct(
        &self,
        id: Uuid,
        body: &serde_json::Value,
    ) -> Result<Job, ClientError> {
        let url = self.url(&format!("/api/v1/jobs/{id}/corrections"));
        let response = self.send(&url, self.http.post(&url).json(body)).await?;
        Self::job_from(&url, Self::data(&url, response).await?)
    }

    /// `POST /api/v1/jobs/{id}/revert`: the accepted revert job. `validate_only` asks for
    /// a dry run; the reverted job's `send_error_email` setting is left to the API.
    pub(crate) async fn revert(&self, id: Uuid, validate_only: bool) -> Result<Job, ClientError> {
        let url = self.url(&format!("/api/v1/jobs/{id}/revert"));
        let mut request = self.http.post(&url);
        if validate_only {
            request = request.query(&[("validate_only", "true")]);
        }
        let response = self.send(&url, request).await?;
        Self::job_from(&url, Self::data(&url, response).await?)
    }

    /// `GET /api/v1/jobs/{id}`.
    pub(crate) async fn job(&self, id: Uuid) -> Result<Job, ClientError> {
        let url = self.url(&format!("/api/v1/jobs/{id}"));
        let response = self.send(&url, self.http.get(&url)).await?;
        Self::job_from(&url, Self::data(&url, response).await?)
    }

    /// `GET /api/v1/jobs` with filters, newest first.
    pub(crate) async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>, ClientError> {
        let url = self.url("/api/v1/jobs");
        let mut query = vec![("limit", filter.limit.to_string())];
        if let Some(kind) = filter.kind {
            query.push(("kind", kind.as_str().to_owned()));
        }
        if let Some(state) = filter.state {
            query.push(("state", state.as_str().to_owned()));
        }
        if let Some(name) = &filter.name {
            query.push(("name", name.clone()));
        }
        let response = self.send(&url, self.http.get(&url).query(&query)).await?;
        match Self::data(&url, response).await? {
            Value::Array(items) => items
                .into_iter()
                .map(|item| Self::job_from(&url, item))
                .collect(),
            _ => Err(unexpected(&url, "the job list is not an array")),
        }
    }

    /// `GET /api/v1/jobs/{id}/events`: the job's Server-Sent Events as they arrive.
    pub(crate) async fn events(
        &self,
        id: Uuid,
    ) -> Result<impl Stream<Item = Result<Event, EventStreamError<reqwest::Error>>>, ClientError>
    {
        let url = self.url(&format!("/api/v1/jobs/{id}/events"));
        let request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "text/event-stream");
        let response = self.send(&url, request).await?;
        Ok(response.bytes_stream().eventsource())
    }

    /// `GET /api/v1/jobs/{id}/errors.csv` into `dest` (through a temporary file beside
    /// it, so that a cut download never leaves half a file). Returns the bytes written.
    pub(crate) async fn download_error_csv(
        &self,
        id: Uuid,
        dest: &Path,
    ) -> Result<u64, ClientError> {
        let url = self.url(&format!("/api/v1/jobs/{id}/errors.csv"));
        let response = self.send(&url, self.http.get(&url)).await?;
        let mut partial = dest.as_os_str().to_owned();
        partial.push(".part");
        let partial = std::path::PathBuf::from(partial);
        let written = async {
            let write_error = |source| ClientError::File {
                action: "could not write",
                path: partial.clone(),
                source,
            };
            let mut file = tokio::fs::File::create(&partial)
                .await
                .map_err(write_error)?;
            let mut body = response
                .bytes_stream()
                .map_err(|source| ClientError::Request {
                    url: url.clone(),
                    source,
                });
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                file.write_all(&chunk).await.map_err(write_error)?;
                written += chunk.len() as u64;
            }
            file.flush().await.map_err(write_error)?;
            tokio::fs::rename(&partial, dest)
                .await
                .map_err(|source| ClientError::File {
                    action: "could not write",
                    path: dest.to_owned(),
                    source,
                })?;
            Ok(written)
        }
        .await;
        if written.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        written
    }
}

fn unexpected(url: &str, detail: impl Into<String>) -> ClientError {
    ClientError::Unexpected {
        url: url.to_owned(),
        detail: detail.into(),
    }
}

/// The API's refusal as an error carrying its JSend message: `data.message` of a `fail`,
/// `message` of an `error`; a body that is not JSend (a proxy's page) gives the status'
/// reason and the start of the body.
/// Whether sending failed because the connection broke while the body was being written
/// (the server closed it, having answered early).
fn upload_cut_off(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            )
        {
            return true;
        }
        source = e.source();
    }
    false
}

async fn api_error(response: Response) -> ClientError {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|body| {
            body.pointer("/data/message")
                .or_else(|| body.get("message"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            let reason = status.canonical_reason().unwrap_or("error").to_owned();
            let snippet: String = text.trim().chars().take(200).collect();
            if snippet.is_empty() {
                reason
            } else {
                format!("{reason}: {snippet}")
            }
        });
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str, key: Option<&str>) -> ServerArgs {
        ServerArgs {
            url: url.to_owned(),
            key: key.map(str::to_owned),
        }
    }

    #[test]
    fn the_url_must_be_http_and_the_key_present() {
        let client = ApiClient::new(&server("http://localhost:8080/", Some("k"))).unwrap();
        assert_eq!(
            client.url("/api/v1/jobs"),
            "http://localhost:8080/api/v1/jobs"
        );
        let behind_a_proxy = ApiClient::new(&server("https://x.example/batch/", Some("k")));
        assert_eq!(
            behind_a_proxy.unwrap().url("/api/v1/jobs"),
            "https://x.example/batch/api/v1/jobs"
        );
        assert!(matches!(
            ApiClient::new(&server("localhost:8080", Some("k"))),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            ApiClient::new(&server("ftp://localhost", Some("k"))),
            Err(ClientError::InvalidUrl { .. })
        ));
        assert!(matches!(
            ApiClient::new(&server("http://localhost", Some("  "))),
            Err(ClientError::MissingKey)
        ));
        assert!(matches!(
            ApiClient::new(&server("http://localhost", Some("a\nb"))),
            Err(ClientError::InvalidKey)
        ));
    }
}

/// The upload cut off by an early answer, against a scripted peer.
#[cfg(test)]
mod early_refusal {

    use reqwest::multipart::{Form, Part};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;
    use crate::client::ServerArgs;

    /// Reads a request's head (the probe has no body).
    async fn read_head(socket: &mut tokio::net::TcpStream) {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && socket.read(&mut byte).await.unwrap() == 1 {
            head.push(byte[0]);
        }
    }

    /// The peer does what a server that refused an upload before reading it may do to the
    /// client: it resets the connection while the file is still being sent, so the answer is
    /// lost (this cannot be timed against the real API, where it happens now and then).
    #[tokio::test]
    async fn an_upload_cut_off_by_an_early_refusal_reports_the_refusal() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let peer = tokio::spawn(async move {
            let (mut upload, _) = listener.accept().await.unwrap();
            read_head(&mut upload).await;
            upload.set_zero_linger().unwrap();
            drop(upload); // an RST: the client's write fails
            let (mut probe, _) = listener.accept().await.unwrap();
            read_head(&mut probe).await;
            let body =
                r#"{"status":"fail","data":{"message":"uploads need an administrator's key"}}"#;
            let answer = format!(
                "HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            probe.write_all(answer.as_bytes()).await.unwrap();
        });
        let client = ApiClient::new(&ServerArgs {
            url: format!("http://{address}"),
            key: Some("a-member-key".into()),
        })
        .unwrap();
        let form = Form::new().part("file", Part::bytes(vec![b'a'; 32 << 20]).file_name("a.csv"));
        let error = client
            .upload(JobKind::Opportunities, form, false, false)
            .await
            .unwrap_err();
        match &error {
            ClientError::Api { status, message } => {
                assert_eq!(*status, 403);
                assert!(message.contains("administrator"), "{message}");
            }
            other => panic!("expected the API's refusal, got {other:?}"),
        }
        peer.await.unwrap();
    }
}
