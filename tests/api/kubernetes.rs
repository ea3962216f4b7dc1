//! deploy/kubernetes/ is checked offline: `kubernetes-validate` against the Kubernetes
//! schemas (it fails, not skips, without the tool; .ci/run installs it), and by reading the
//! manifests against the code: the variables are settings the service reads, the probes
//! name real routes on the ports the processes listen on, the grace periods cover the
//! shutdown bounds, and the KEDA ScaledObject (a custom resource the validator has no schema
//! for) scales the worker Deployment on a metric the API exports.

use std::{
    collections::{BTreeMap, BTreeSet},
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use batch_import::startup;
use serde_yaml_ng::Value;

use crate::helpers::{
    manifests::{self, scalar},
    opportunities_csv, spawn_app_with,
};

const DIR: &str = "deploy/kubernetes";
/// The Kubernetes version the manifests are validated against: the oldest they are meant
/// for (the API's `preStop: sleep` action is on by default from 1.30).
const KUBERNETES_VERSION: &str = "1.30.0";
/// API groups of custom resources: `kubernetes-validate` has no schema for them, so their
/// structure is checked here instead.
const CUSTOM_GROUPS: &[&str] = &["keda.sh/"];

/// The files `kustomization.yaml` lists, in order.
fn listed_files() -> Vec<String> {
    manifests::yaml(&format!("{DIR}/kustomization.yaml"))["resources"]
        .as_sequence()
        .expect("kustomization.yaml lists resources")
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

/// Every listed resource by file name.
fn resources() -> BTreeMap<String, Value> {
    listed_files()
        .into_iter()
        .map(|file| {
            let value = manifests::yaml(&format!("{DIR}/{file}"));
            (file, value)
        })
        .collect()
}

/// The one resource of `kind` whose containers run the subcommand `command` (any
/// resource of `kind` when `command` is empty).
fn find<'a>(resources: &'a BTreeMap<String, Value>, kind: &str, command: &str) -> &'a Value {
    let found: Vec<&Value> = resources
        .values()
        .filter(|r| r["kind"] == kind)
        .filter(|r| command.is_empty() || container(r)["args"][0] == command)
        .collect();
    assert_eq!(found.len(), 1, "one {kind} running {command:?}");
    found[0]
}

/// The first container of a workload's pod template.
fn container(workload: &Value) -> &Value {
    &workload["spec"]["template"]["spec"]["containers"][0]
}

/// The ConfigMap's data (what every pod gets through `envFrom`).
fn config(resources: &BTreeMap<String, Value>) -> BTreeMap<String, String> {
    find(resources, "ConfigMap", "")["data"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), scalar(v)))
        .collect()
}

/// A setting as the pods see it: the ConfigMap's value, else the compiled-in default.
fn setting_secs(resources: &BTreeMap<String, Value>, name: &str, default: u64) -> u64 {
    config(resources)
        .get(name)
        .map_or(default, |v| v.parse().unwrap())
}

/// The port of an address setting in the ConfigMap.
fn config_port(resources: &BTreeMap<String, Value>, name: &str) -> u16 {
    let addr: SocketAddr = config(resources)[name].parse().unwrap();
    addr.port()
}

/// The container port a probe's `port` (a name or a number) refers to.
fn probe_port(container: &Value, probe: &str) -> u16 {
    let port = &container[probe]["httpGet"]["port"];
    if let Some(number) = port.as_u64() {
        return number as u16;
    }
    let name = port
        .as_str()
        .unwrap_or_else(|| panic!("{probe} has a port"));
    container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{probe} names port {name}, which the container lacks"))
        ["containerPort"]
        .as_u64()
        .unwrap() as u16
}

fn probe_path<'a>(container: &'a Value, probe: &str) -> &'a str {
    container[probe]["httpGet"]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("{probe} is an HTTP GET"))
}

/// Polls `url` until it answers 200 (panics after 30 s).
async fn until_ok(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = reqwest::get(url).await.map(|r| r.status().as_u16());
        if matches!(status, Ok(200)) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} answered {status:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Mebibytes of a memory quantity such as `256Mi` or `1Gi`.
fn mebibytes(quantity: &Value) -> u64 {
    let text = scalar(quantity);
    if let Some(n) = text.strip_suffix("Gi") {
        n.parse::<u64>().unwrap() * 1024
    } else {
        text.strip_suffix("Mi")
            .unwrap_or_else(|| panic!("memory in Mi or Gi: {text}"))
            .parse()
            .unwrap()
    }
}

#[test]
fn every_manifest_is_listed_and_every_listed_file_exists() {
    let listed: BTreeSet<String> = listed_files().into_iter().collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR);
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") || name.ends_with(".yml"))
        .filter(|name| name != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, present,
        "kustomization.yaml lists exactly the files"
    );
    assert_eq!(listed.len(), listed_files().len(), "no file listed twice");
    for kind in [
        "ConfigMap",
        "Secret",
        "Job",
        "Deployment",
        "Service",
        "ScaledObject",
    ] {
        assert!(
            resources().values().any(|r| r["kind"] == kind),
            "a {kind} is listed"
        );
    }
}

#[test]
fn the_manifests_pass_kubernetes_validate() {
    let files = listed_files();
    let output = std::process::Command::new("kubernetes-validate")
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(DIR))
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .args(&files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "kubernetes-validate could not run ({e}); install it: \
                 python3 -m pip install kubernetes-validate (.ci/run does)"
            )
        });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    let resources = resources();
    for file in &files {
        let api_version = resources[file]["apiVersion"].as_str().unwrap();
        let custom = CUSTOM_GROUPS.iter().any(|g| api_version.starts_with(g));
        let passed = report.contains(&format!("{file} passed for resource"));
        // An unknown apiVersion of a built-in kind is only a warning: demand a pass.
        assert!(
            passed || custom,
            "{file} ({api_version}) was not validated: {report}"
        );
    }
}

#[test]
fn the_variables_are_settings_the_service_reads_and_secrets_stay_in_the_secret() {
    let resources = resources();
    let config = config(&resources);
    let secret: BTreeMap<String, String> = find(&resources, "Secret", "")["stringData"]
        .as_mapping()
        .expect("the Secret's placeholders are readable stringData")
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), scalar(v)))
        .collect();
    let unread =
        manifests::unread_variables(config.keys().chain(secret.keys()).map(String::as_str));
    assert!(unread.is_empty(), "variables nothing reads: {unread:?}");

    for name in [
        "DATABASE_URL",
        "REDIS_URL",
        "SMTP_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        assert!(secret.contains_key(name), "the Secret holds {name}");
        assert!(!config.contains_key(name), "{name} is not in the ConfigMap");
        assert!(
            secret[name].contains("CHANGE-ME"),
            "{name} is a clearly marked placeholder"
        );
    }
    // Pods on several nodes share no disk: uploads go to object storage.
    // (STORAGE_DIR then only holds local spool copies; see the read-only-root test.)
    assert!(config["STORAGE_URL"].starts_with("s3://"), "{config:?}");
    // The migration Job migrates; the pods must not race it at every start.
    assert_eq!(config["AUTO_MIGRATE"], "false");

    // Every pod gets both, by the names they really have.
    let config_name = find(&resources, "ConfigMap", "")["metadata"]["name"].clone();
    let secret_name = find(&resources, "Secret", "")["metadata"]["name"].clone();
    for (kind, command) in [
        ("Deployment", "serve"),
        ("Deployment", "work"),
        ("Job", "migrate"),
    ] {
        let env_from = container(find(&resources, kind, command))["envFrom"]
            .as_sequence()
            .unwrap();
        assert!(
            env_from
                .iter()
                .any(|e| e["configMapRef"]["name"] == config_name),
            "{command} gets the ConfigMap"
        );
        assert!(
            env_from
                .iter()
                .any(|e| e["secretRef"]["name"] == secret_name),
            "{command} gets the Secret"
        );
    }
}

#[test]
fn the_containers_run_real_subcommands_and_flags() {
    let resources = resources();
    for (kind, command) in [
        ("Deployment", "serve"),
        ("Deployment", "work"),
        ("Job", "migrate"),
    ] {
        let args: Vec<String> = container(find(&resources, kind, command))["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(scalar)
            .collect();
        let help = std::process::Command::new(env!("CARGO_BIN_EXE_batch-import"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(help.status.success(), "{command} is a subcommand");
        let help = String::from_utf8_lossy(&help.stdout);
        for flag in args.iter().filter(|a| a.starts_with("--")) {
            assert!(
                help.contains(flag.as_str()),
                "{command} takes {flag}: {help}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probes_name_real_routes_on_the_ports_the_processes_listen_on() {
    let resources = resources();
    let api = container(find(&resources, "Deployment", "serve"));
    let worker = container(find(&resources, "Deployment", "work"));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            probe_port(api, probe),
            config_port(&resources, "LISTEN_ADDR"),
            "the API's {probe} port is where it listens"
        );
        assert_eq!(
            probe_port(worker, probe),
            config_port(&resources, "WORKER_HEALTH_ADDR"),
            "the worker's {probe} port is where its health listener is"
        );
    }
    // The Service forwards to the port the API listens on.
    let service = find(&resources, "Service", "");
    let target = &service["spec"]["ports"][0]["targetPort"];
    let target_port = target.as_u64().unwrap_or_else(|| {
        let name = target.as_str().unwrap();
        api["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .expect("the Service's targetPort names a container port")["containerPort"]
            .as_u64()
            .unwrap()
    });
    assert_eq!(
        target_port,
        u64::from(config_port(&resources, "LISTEN_ADDR"))
    );
    assert_eq!(
        service["spec"]["selector"],
        find(&resources, "Deployment", "serve")["spec"]["template"]["metadata"]["labels"],
        "the Service selects the API pods"
    );
    // The worker's metrics port is where METRICS_ADDR listens (the scrape annotation too).
    let worker_pod = &find(&resources, "Deployment", "work")["spec"]["template"];
    let metrics_port = config_port(&resources, "METRICS_ADDR").to_string();
    assert_eq!(
        worker_pod["metadata"]["annotations"]["prometheus.io/port"],
        metrics_port.as_str()
    );
    assert!(
        worker["ports"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|p| scalar(&p["containerPort"]) == metrics_port)
    );

    // The paths answer 200 on a real API and a real worker.
    let app = spawn_app_with(|_| {}, false).await;
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = probe_path(api, probe);
        let status = reqwest::get(format!("{}{path}", app.address))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "the API's {probe} {path}");
    }
    let health_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut settings = app.settings.clone();
    settings.worker_health_addr = Some(health_addr);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker_task = tokio::spawn(batch_import::startup::run_worker(
        settings,
        false,
        async move {
            let _ = stopped.await;
        },
    ));
    for probe in ["readinessProbe", "livenessProbe"] {
        until_ok(&format!(
            "http://{health_addr}{}",
            probe_path(worker, probe)
        ))
        .await;
    }
    let _ = stop.send(());
    worker_task
        .await
        .unwrap()
        .expect("the worker stops cleanly");
}

#[test]
fn the_grace_periods_cover_the_shutdown_bounds() {
    let resources = resources();
    let defaults = manifests::default_settings();
    let grace = |command: &str| {
        find(&resources, "Deployment", command)["spec"]["template"]["spec"]
            ["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap_or(30)
    };
    // The worker drains for at most WORKER_SHUTDOWN_TIMEOUT_SECS, then exits.
    let drain = setting_secs(
        &resources,
        "WORKER_SHUTDOWN_TIMEOUT_SECS",
        defaults.worker_shutdown_timeout_secs,
    );
    assert!(
        grace("work") >= drain + 10,
        "worker grace {} s must exceed its drain of {drain} s with a margin",
        grace("work")
    );
    // The API lets requests in flight finish, a `wait=true` upload being the longest, after
    // its preStop pause.
    let wait = setting_secs(
        &resources,
        "UPLOAD_WAIT_TIMEOUT_SECS",
        defaults.upload_wait_timeout_secs,
    );
    let api = container(find(&resources, "Deployment", "serve"));
    let pause = api["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        grace("serve") >= wait + pause + 5,
        "API grace {} s must exceed a wait=true hold of {wait} s plus the {pause} s pause",
        grace("serve")
    );
}

#[test]
fn the_pods_run_as_the_image_user_on_a_read_only_root_with_resources() {
    let resources = resources();
    let uid = manifests::dockerfile_uid();
    for (kind, command) in [
        ("Deployment", "serve"),
        ("Deployment", "work"),
        ("Job", "migrate"),
    ] {
        let pod = &find(&resources, kind, command)["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{command}");
        assert_eq!(
            pod["securityContext"]["runAsUser"].as_u64(),
            Some(uid),
            "{command} runs as the Dockerfile's user"
        );
        let c = &pod["containers"][0];
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{command}"
        );
        assert_eq!(
            c["securityContext"]["allowPrivilegeEscalation"], false,
            "{command}"
        );
        assert!(
            c["resources"]["requests"]["memory"].as_str().is_some()
                && c["resources"]["limits"]["memory"].as_str().is_some(),
            "{command} has memory requests and limits"
        );
    }
    // On S3 the worker spools uploads and the API cuts unprocessed rows into
    // STORAGE_DIR/spool: it must lie on a writable emptyDir, the root being read-only.
    let settings = config(&resources);
    assert!(
        settings["STORAGE_URL"].starts_with("s3://"),
        "pods on several nodes share no disk"
    );
    let storage_dir = &settings["STORAGE_DIR"];
    for command in ["serve", "work"] {
        let pod = &find(&resources, "Deployment", command)["spec"]["template"]["spec"];
        let mount = pod["containers"][0]["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|m| {
                let path = m["mountPath"].as_str().unwrap();
                storage_dir == path || storage_dir.starts_with(&format!("{path}/"))
            })
            .unwrap_or_else(|| panic!("{command}: STORAGE_DIR {storage_dir} is on no mount"));
        let volume = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("the mount names a volume");
        assert!(
            volume.get("emptyDir").is_some(),
            "{command}: STORAGE_DIR is on an emptyDir"
        );
    }
    let worker = &find(&resources, "Deployment", "work")["spec"]["template"]["spec"];
    // Measured: about 47 MB at most for a worker with one 20 MB job (docs/performance.md);
    // the limit must hold WORKER_CONCURRENCY of them.
    let concurrency = setting_secs(&resources, "WORKER_CONCURRENCY", 2);
    let limit = mebibytes(&worker["containers"][0]["resources"]["limits"]["memory"]);
    assert!(
        limit >= concurrency * 48,
        "a {limit} Mi limit for {concurrency} jobs"
    );
}

#[test]
fn the_most_workers_and_api_pods_fit_in_a_default_postgres() {
    let resources = resources();
    let mut settings = manifests::default_settings();
    let config = config(&resources);
    settings.worker_concurrency = config["WORKER_CONCURRENCY"].parse().unwrap();
    settings.import_writers = config["IMPORT_WRITERS"].parse().unwrap();
    let workers = find(&resources, "ScaledObject", "")["spec"]["maxReplicaCount"]
        .as_u64()
        .unwrap() as u32;
    let apis = find(&resources, "Deployment", "serve")["spec"]["replicas"]
        .as_u64()
        .unwrap() as u32;
    // The pool sizes the processes really use; `migrate` opens 2 (src/main.rs).
    let needed = workers * startup::worker_db_connections(&settings)
        + apis * startup::API_DB_CONNECTIONS
        + 2;
    // max_connections 100 by default, 3 of them reserved for superusers.
    assert!(
        needed <= 97,
        "{workers} workers and {apis} API pods need {needed} Postgres connections"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaled_object_scales_the_worker_deployment_on_a_metric_the_api_exports() {
    let resources = resources();
    let scaled = find(&resources, "ScaledObject", "");
    assert_eq!(scaled["apiVersion"], "keda.sh/v1alpha1");
    let spec = &scaled["spec"];
    let worker = find(&resources, "Deployment", "work");
    assert_eq!(
        spec["scaleTargetRef"]["name"], worker["metadata"]["name"],
        "it scales the worker Deployment"
    );
    let kind = &spec["scaleTargetRef"]["kind"];
    assert!(kind.is_null() || *kind == "Deployment", "{kind:?}");
    let min = spec["minReplicaCount"].as_u64().expect("minReplicaCount");
    let max = spec["maxReplicaCount"].as_u64().expect("maxReplicaCount");
    assert!(
        min >= 1,
        "workers also run the reconciler and the webhooks: keep one"
    );
    assert!(max > min, "{min}..{max}");
    assert!(spec["cooldownPeriod"].as_u64().is_some(), "cooldownPeriod");
    assert!(
        spec["pollingInterval"].as_u64().is_some(),
        "pollingInterval"
    );

    let triggers = spec["triggers"].as_sequence().unwrap();
    assert_eq!(triggers.len(), 1);
    let trigger = &triggers[0];
    assert_eq!(trigger["type"], "prometheus");
    let meta = &trigger["metadata"];
    let server = url::Url::parse(meta["serverAddress"].as_str().unwrap()).unwrap();
    assert!(["http", "https"].contains(&server.scheme()), "{server}");
    // One worker per WORKER_CONCURRENCY jobs.
    assert_eq!(
        scalar(&meta["threshold"]),
        config(&resources)["WORKER_CONCURRENCY"],
        "the threshold is the jobs one worker runs at once"
    );

    // The query reads the slots the work in hand can use, which the API exports, and that
    // figure follows the tenants' caps.
    assert_eq!(
        meta["query"].as_str().unwrap(),
        format!("max({})", batch_import::prometheus::SLOTS_WANTED)
    );
    let app = spawn_app_with(|s| s.tenant_max_running = 2, false).await;
    let (a, b) = (app.admin_key().await, app.admin_key().await);
    for (key, jobs) in [(&a, 5), (&b, 1)] {
        for i in 0..jobs {
            app.upload_job(
                key,
                "opportunities",
                "",
                opportunities_csv(&format!("S{i}-"), 1),
            )
            .await;
        }
    }
    let scrape = reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        scrape.contains(&format!("\n{} 3\n", batch_import::prometheus::SLOTS_WANTED)),
        "A's five waiting jobs want 2 slots (its cap), B's one: {scrape}"
    );
}
