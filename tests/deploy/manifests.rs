//! Reading the deployment files (docker-compose.yml, deploy/kubernetes/) and checking them
//! against what the service really reads: shared by `compose` and `kubernetes`.

use std::{collections::BTreeSet, path::Path};

use batch_import::config::Settings;
pub use batch_import_test_support::{repo_file, scalar, yaml};

/// Environment variables the service reads outside [`Settings`].
const READ_OUTSIDE_SETTINGS: &[&str] = &[
    // tracing's filter (src/telemetry.rs).
    "RUST_LOG",
    // Where the configuration files are (src/config.rs).
    "CONFIG_DIR",
];

/// The S3 client's AWS_* variables, read by object_store (docs/operations.md, "Storage"), not by
/// `Settings`. The manifests use them because pods on several nodes share no disk.
const OBJECT_STORAGE: &[&str] = &[
    "AWS_ENDPOINT",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ALLOW_HTTP",
];

/// The settings of `config/default.toml` (and the test process's environment).
pub fn default_settings() -> Settings {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    Settings::load_from(&dir).expect("config/default.toml loads")
}

/// The environment variable of every field of [`Settings`]: taken from its `Debug` output,
/// which lists every field (its impl destructures `Settings` without `..`, so a new field
/// does not compile until it is added there).
pub fn setting_variables() -> BTreeSet<String> {
    let settings = default_settings();
    let names: BTreeSet<String> = format!("{settings:#?}")
        .lines()
        // The fields are the lines indented once; nested values are indented deeper.
        .filter_map(|line| line.strip_prefix("    "))
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_once(':').map(|(name, _)| name))
        .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .map(str::to_ascii_uppercase)
        .collect();
    assert!(
        names.contains("DATABASE_URL") && names.contains("WORKER_SHUTDOWN_TIMEOUT_SECS"),
        "the Debug output of Settings changed shape: {names:?}"
    );
    names
}

/// Environment variables a deployment file sets that the service does not read (typos,
/// settings that were renamed or removed).
pub fn unread_variables<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let settings = setting_variables();
    names
        .into_iter()
        .filter(|name| {
            !settings.contains(*name)
                && !READ_OUTSIDE_SETTINGS.contains(name)
                && !OBJECT_STORAGE.contains(name)
        })
        .map(str::to_owned)
        .collect()
}

/// The uid the Dockerfile's runtime image runs as (`useradd … --uid N`).
pub fn dockerfile_uid() -> u64 {
    let dockerfile = repo_file("Dockerfile");
    let after = dockerfile
        .split("--uid ")
        .nth(1)
        .expect("the Dockerfile creates its user with --uid");
    after
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .expect("a numeric uid")
}

#[test]
fn unknown_variables_are_reported_and_settings_are_not() {
    assert_eq!(
        unread_variables([
            "DATABASE_URL",
            "WORKER_HEALTH_ADDR",
            "RUST_LOG",
            "STORAGE_URL"
        ]),
        Vec::<String>::new()
    );
    assert_eq!(
        unread_variables(["WORKER_CONCURENCY", "DATABASE_URL"]),
        vec!["WORKER_CONCURENCY".to_owned()]
    );
}

#[test]
fn every_setting_has_a_row_in_the_operations_guide_configuration_table() {
    let guide = repo_file("docs/operations.md");
    let missing: Vec<String> = setting_variables()
        .into_iter()
        .filter(|name| !guide.contains(&format!("\n| `{name}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "settings missing from the configuration table of docs/operations.md: {missing:?}"
    );
}
