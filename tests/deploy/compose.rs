//! No Docker engine runs in CI, so the compose file and Dockerfile are checked by reading.

use serde_yaml_ng::Value;

use crate::manifests::{self, scalar};

fn compose() -> Value {
    manifests::yaml("docker-compose.yml")
}

#[test]
fn compose_has_the_services_and_workers_can_scale() {
    let compose = compose();
    let services = compose["services"].as_mapping().unwrap();
    for name in ["postgres", "redis", "mailpit", "api", "worker"] {
        assert!(services.contains_key(name), "service {name}");
    }
    let worker = &compose["services"]["worker"];
    assert!(
        worker.get("container_name").is_none(),
        "a fixed name would stop --scale"
    );
    assert!(
        worker.get("ports").is_none(),
        "a host port would stop --scale"
    );
    assert_eq!(worker["command"][0], "work");
    assert_eq!(compose["services"]["api"]["command"][0], "serve");

    let mailpit_ports: Vec<&str> = compose["services"]["mailpit"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(
        mailpit_ports.iter().any(|p| p.ends_with(":1025"))
            && mailpit_ports.iter().any(|p| p.ends_with(":8025"))
    );

    // Uploads live on one volume that the API and every worker mount at STORAGE_DIR.
    let mount = |svc: &str| -> Vec<String> {
        compose["services"][svc]["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let api_mounts = mount("api");
    let worker_mounts = mount("worker");
    let shared = worker_mounts
        .iter()
        .find(|m| api_mounts.contains(m))
        .expect("api and worker share a volume");
    let (volume, path) = shared.split_once(':').unwrap();
    assert!(
        compose["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key(volume)
    );
    for svc in ["api", "worker"] {
        // Merged from the shared anchor by the YAML parser's `<<` support or set directly.
        let env = resolve_env(&compose, svc);
        assert_eq!(
            env.get("STORAGE_DIR").map(String::as_str),
            Some(path),
            "{svc} STORAGE_DIR"
        );
        for var in [
            "DATABASE_URL",
            "REDIS_URL",
            "SMTP_URL",
            "PUBLIC_URL",
            "BASE_DOMAIN",
        ] {
            assert!(env.contains_key(var), "{svc} sets {var}");
        }
        assert!(env["SMTP_URL"].contains("mailpit:1025"));
        assert!(env["DATABASE_URL"].contains("@postgres:5432/"));
        assert!(env["REDIS_URL"].contains("redis:6379"));
    }
    // Every variable set is one the service reads (a typo would be silently ignored).
    for svc in ["api", "worker"] {
        let env = resolve_env(&compose, svc);
        let unread = manifests::unread_variables(env.keys().map(String::as_str));
        assert!(
            unread.is_empty(),
            "{svc} sets variables nothing reads: {unread:?}"
        );
    }
    // The worker's drain is bounded by WORKER_SHUTDOWN_TIMEOUT_SECS; compose must wait longer
    // before it kills the container.
    let grace: u64 = scalar(&worker["stop_grace_period"])
        .trim_end_matches('s')
        .parse()
        .expect("stop_grace_period in seconds");
    let drain = resolve_env(&compose, "worker")
        .get("WORKER_SHUTDOWN_TIMEOUT_SECS")
        .map(|v| v.parse::<u64>().unwrap())
        .unwrap_or(manifests::default_settings().worker_shutdown_timeout_secs);
    assert!(
        grace >= drain + 10,
        "stop_grace_period {grace}s must exceed the worker's drain of {drain}s"
    );
    // The health checks probe where the processes listen, with the binary (no curl).
    for (svc, setting, path) in [
        ("api", "LISTEN_ADDR", "/api/v1/readyz"),
        ("worker", "WORKER_HEALTH_ADDR", "/healthz"),
    ] {
        let test: Vec<String> = compose["services"][svc]["healthcheck"]["test"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{svc} has a health check"))
            .iter()
            .map(scalar)
            .collect();
        assert_eq!(test[..3], ["CMD", "batch-import", "probe"], "{svc}");
        let addr: std::net::SocketAddr = resolve_env(&compose, svc)[setting].parse().unwrap();
        assert_eq!(
            test[3],
            format!("http://127.0.0.1:{}{path}", addr.port()),
            "{svc}"
        );
    }
    // A first `docker compose up` leaves the user an admin key in the API's log.
    let api = resolve_env(&compose, "api");
    let (tenant, email) = api["BOOTSTRAP_ADMIN"].split_once(':').unwrap();
    assert!(batch_import::domain::TenantSlug::parse(tenant).is_ok());
    assert!(email.contains('@'));
}

fn resolve_env(compose: &Value, svc: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let env = compose["services"][svc]["environment"]
        .as_mapping()
        .unwrap();
    for (k, v) in env {
        if k.as_str() == Some("<<") {
            for (k2, v2) in v.as_mapping().unwrap() {
                out.entry(k2.as_str().unwrap().to_owned())
                    .or_insert_with(|| scalar(v2));
            }
        } else {
            out.insert(k.as_str().unwrap().to_owned(), scalar(v));
        }
    }
    out
}

#[test]
fn dockerfile_builds_the_binary_and_ships_the_config() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    assert!(text.matches("FROM ").count() >= 2, "multi-stage");
    assert!(text.contains("cargo build --release"));
    assert!(
        text.contains("COPY migrations"),
        "migrations are embedded at build time"
    );
    assert!(
        text.contains("COPY config"),
        "config/default.toml ships with the image"
    );
    assert!(text.contains("ENTRYPOINT [\"batch-import\"]"));
    // Cargo refuses a manifest whose explicit targets are missing from the build context.
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    if manifest.contains("[[bench]]") {
        let copy_benches = text.find("COPY benches").expect("benches are copied");
        let first_build = text.find("cargo build").unwrap();
        assert!(
            copy_benches < first_build,
            "benches are copied before the first cargo build"
        );
    }
    // Cargo loads every workspace member before it builds anything: each must be in the
    // build context before the first build.
    let members = manifest
        .lines()
        .find(|l| l.starts_with("members = ["))
        .expect("a workspace with its members on one line");
    let members: Vec<&str> = members
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|m| *m != ".")
        .collect();
    assert!(!members.is_empty(), "{members:?}");
    let first_build = text.find("cargo build").unwrap();
    for member in members {
        let copy = text
            .find(&format!("COPY {member} "))
            .unwrap_or_else(|| panic!("the Dockerfile copies the workspace member {member}"));
        assert!(
            copy < first_build,
            "{member} is copied before the first cargo build"
        );
    }
    // The checked SQL builds from the committed query data, without a database.
    assert!(text.contains("ENV SQLX_OFFLINE=true"), "builds offline");
    let copy_sqlx = text.find("COPY .sqlx").expect(".sqlx/ is copied");
    let last_build = text.rfind("cargo build").unwrap();
    assert!(copy_sqlx < last_build, ".sqlx/ is copied before the build");
    // Every file the Dockerfile copies from the context exists.
    for line in text
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        for src in &parts[1..parts.len() - 1] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(src);
            assert!(path.exists(), "{src} copied by the Dockerfile exists");
        }
    }
}

fn compose_s3() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docker-compose.s3.yml"
    ))
    .unwrap();
    serde_yaml_ng::from_str(&text).expect("docker-compose.s3.yml is valid YAML")
}

/// The S3 override: a MinIO server, a one-shot bucket creation the API and workers wait
/// for, and their `STORAGE_URL`/`AWS_*` settings naming that server, bucket and user, with
/// the shared volume of the base file dropped.
#[test]
fn the_s3_override_points_api_and_workers_at_the_bucket_it_creates() {
    let base = compose();
    let s3 = compose_s3();
    let services = s3["services"].as_mapping().unwrap();
    for name in services.keys().map(|k| k.as_str().unwrap()) {
        assert!(
            ["minio", "minio-init", "api", "worker"].contains(&name),
            "unexpected service {name}"
        );
    }
    let minio = &s3["services"]["minio"];
    let minio_env = resolve_env(&s3, "minio");
    let (user, password) = (
        &minio_env["MINIO_ROOT_USER"],
        &minio_env["MINIO_ROOT_PASSWORD"],
    );
    assert!(minio["healthcheck"]["test"].as_sequence().is_some());
    let init = &s3["services"]["minio-init"];
    assert_eq!(
        init["depends_on"]["minio"]["condition"], "service_healthy",
        "the bucket is made once MinIO answers"
    );
    let init_command = init["command"][0].as_str().unwrap();

    for svc in ["api", "worker"] {
        assert!(
            base["services"][svc].is_mapping(),
            "{svc} overrides a service of docker-compose.yml"
        );
        let env = resolve_env(&s3, svc);
        let storage = url::Url::parse(&env["STORAGE_URL"]).expect("STORAGE_URL is a URL");
        assert_eq!(storage.scheme(), "s3", "{svc} STORAGE_URL");
        let bucket = storage.host_str().unwrap();
        assert!(
            init_command.contains(&format!("mc mb --ignore-existing local/{bucket}")),
            "minio-init creates the bucket {bucket}: {init_command}"
        );
        assert!(
            init_command.contains(&format!("local http://minio:9000 {user} {password}")),
            "minio-init signs in as MinIO's user: {init_command}"
        );
        let endpoint = url::Url::parse(&env["AWS_ENDPOINT"]).unwrap();
        assert_eq!(endpoint.host_str(), Some("minio"), "{svc} AWS_ENDPOINT");
        assert_eq!(endpoint.port(), Some(9000));
        assert_eq!(endpoint.scheme(), "http");
        assert_eq!(
            env["AWS_ALLOW_HTTP"], "true",
            "a plain-HTTP endpoint needs it"
        );
        assert_eq!(&env["AWS_ACCESS_KEY_ID"], user, "{svc} AWS_ACCESS_KEY_ID");
        assert_eq!(&env["AWS_SECRET_ACCESS_KEY"], password);
        assert!(!env["AWS_REGION"].is_empty());
        assert_eq!(
            s3["services"][svc]["depends_on"]["minio-init"]["condition"],
            "service_completed_successfully",
            "{svc} starts once the bucket exists"
        );
        // `!reset []`: the base file's shared volume is dropped, nothing is shared on disk.
        let Value::Tagged(volumes) = &s3["services"][svc]["volumes"] else {
            panic!("{svc} resets its volumes");
        };
        assert_eq!(volumes.tag, "!reset");
        assert_eq!(volumes.value, Value::Sequence(Vec::new()));
    }
    assert!(
        s3["volumes"]
            .as_mapping()
            .unwrap()
            .contains_key("miniodata")
    );
}
