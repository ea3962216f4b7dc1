//! A real S3-compatible server for the tests: moto's `moto_server` (from the Python package
//! `moto[server]`) on a free loopback port, with one bucket. The service talks to it over
//! HTTP exactly as it would to S3 or MinIO; the tests look into the bucket with their own
//! S3 client (and list incomplete multipart uploads with a plain REST call).
//!
//! Without `moto_server` the tests that need it FAIL with a message saying how to install
//! it: a missing server must not pass for a working S3 backend.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The access key and secret moto is given (it accepts any).
const ACCESS_KEY: &str = "bi-test-key";
const SECRET_KEY: &str = "bi-test-secret";
const REGION: &str = "us-east-1";

/// A running `moto_server` with a bucket; killed when dropped.
pub struct MotoServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// The bucket the tests use.
    pub bucket: String,
    http: reqwest::Client,
}

impl MotoServer {
    /// Starts `moto_server` (or `$MOTO_SERVER`) and creates the bucket.
    pub async fn start() -> Self {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "the S3 tests need a real S3-compatible server and could not start \
                     {program:?} ({e}); install it with: python3 -m pip install 'moto[server]'"
                )
            });
        let mut server = Self {
            child,
            port,
            bucket: format!(
                "bi-test-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..12]
            ),
            http: reqwest::Client::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("{program} exited at start ({status}); is port {port} taken?");
            }
            let up = server
                .http
                .get(server.endpoint())
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok();
            if up {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{program} did not come up within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = server
            .http
            .put(format!("{}/{}", server.endpoint(), server.bucket))
            .send()
            .await
            .expect("create the bucket");
        assert!(
            created.status().is_success(),
            "bucket creation: {}",
            created.status()
        );
        server
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A `STORAGE_URL` for the bucket under `prefix`, carrying the connection settings as
    /// query parameters (an in-process test must not change the process environment).
    pub fn storage_url(&self, prefix: &str) -> String {
        format!(
            "s3://{}/{prefix}?endpoint={}&region={REGION}&allow_http=true\
             &access_key_id={ACCESS_KEY}&secret_access_key={SECRET_KEY}",
            self.bucket,
            self.endpoint()
        )
    }

    /// The `AWS_*` variables (and `STORAGE_URL`) for a process using the bucket under
    /// `prefix`, as an operator would set them.
    #[allow(dead_code)] // Used by the fault suite (real processes), not by tests/api.
    pub fn env(&self, prefix: &str) -> Vec<(String, String)> {
        [
            ("STORAGE_URL", format!("s3://{}/{prefix}", self.bucket)),
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// A signed client of the bucket (moto refuses anonymous reads of objects).
    fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_endpoint(self.endpoint())
            .with_region(REGION)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .with_allow_http(true)
            .build()
            .expect("an S3 client")
    }

    /// The keys of the bucket's objects under `prefix` (a key prefix, not a folder).
    pub async fn keys(&self, prefix: &str) -> Vec<String> {
        use futures::TryStreamExt;
        let all: Vec<object_store::ObjectMeta> =
            object_store::ObjectStore::list(&self.client(), None)
                .try_collect()
                .await
                .expect("list the bucket");
        let mut keys: Vec<String> = all
            .into_iter()
            .map(|meta| meta.location.to_string())
            .filter(|key| key.starts_with(prefix))
            .collect();
        keys.sort();
        keys
    }

    /// The keys of multipart uploads begun and neither completed nor aborted
    /// (ListMultipartUploads, `GET /bucket?uploads`).
    pub async fn incomplete_uploads(&self) -> Vec<String> {
        let body = self.get_xml(&[("uploads", String::new())]).await;
        elements(&body, "Key")
    }

    /// Begins a multipart upload at `key` with one part and leaves it unfinished (what an
    /// API killed mid-upload leaves); returns it so the caller can abort it.
    pub async fn begin_upload(&self, key: &str) -> Box<dyn object_store::MultipartUpload> {
        let path = object_store::path::Path::from(key);
        let mut upload = object_store::ObjectStore::put_multipart(&self.client(), &path)
            .await
            .expect("begin a multipart upload");
        upload
            .put_part(vec![b'x'; 5 * 1024 * 1024].into())
            .await
            .expect("upload a part");
        upload
    }

    /// The object at `key`, `None` when missing.
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        let path = object_store::path::Path::from(key);
        match object_store::ObjectStore::get(&self.client(), &path).await {
            Ok(object) => Some(object.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("GET {key}: {e}"),
        }
    }

    /// Stores an object directly (a file left by someone else).
    pub async fn put(&self, key: &str, body: &[u8]) {
        let path = object_store::path::Path::from(key);
        object_store::ObjectStore::put(&self.client(), &path, body.to_vec().into())
            .await
            .unwrap_or_else(|e| panic!("PUT {key}: {e}"));
    }

    async fn get_xml(&self, query: &[(&str, String)]) -> String {
        // Any credentials pass moto's check; anonymous requests may be refused.
        let response = self
            .http
            .get(format!("{}/{}", self.endpoint(), self.bucket))
            .query(query)
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20260101/{REGION}/s3/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "list: {}",
            response.status()
        );
        response.text().await.unwrap()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The texts of every `<name>…</name>` element (S3's listings have no nesting that matters
/// here, and keys of this service need no XML unescaping).
fn elements(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(after[..end].to_owned());
        rest = &after[end + close.len()..];
    }
    found
}
