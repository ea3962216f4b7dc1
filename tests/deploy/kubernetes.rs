//! deploy/kubernetes/ is checked offline: `kubernetes-validate` against the Kubernetes
//! schemas (it fails, not skips, without the tool; .ci/run installs it), and by reading the
//! manifests against the code: the variables are settings the service reads, the grace
//! periods cover the shutdown bounds, and the pods fit the image and the database. That the
//! probes name real routes on the ports the processes listen on, and that the KEDA
//! ScaledObject (a custom resource the validator has no schema for) scales the worker
//! Deployment on a metric the API exports, is checked against a running API by
//! tests/api/kubernetes_live.rs.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use batch_import::startup;
use batch_import_test_support::kubernetes::{
    DIR, config, container, find, listed_files, resources,
};
use serde_yaml_ng::Value;

use crate::manifests::{self, scalar};

/// The Kubernetes version the manifests are validated against: the oldest they are meant
/// for (the API's `preStop: sleep` action is on by default from 1.30).
const KUBERNETES_VERSION: &str = "1.30.0";
/// API groups of custom resources: `kubernetes-validate` has no schema for them, so their
/// structure is checked here instead.
const CUSTOM_GROUPS: &[&str] = &["keda.sh/"];

/// A setting as the pods see it: the ConfigMap's value, else the compiled-in default.
fn setting_secs(resources: &BTreeMap<String, Value>, name: &str, default: u64) -> u64 {
    config(resources)
        .get(name)
        .map_or(default, |v| v.parse().unwrap())
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
