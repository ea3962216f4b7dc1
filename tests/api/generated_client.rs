//! A client generated from the served OpenAPI document works out of the box: the test
//! generates a Python client with openapi-python-client (a standard generator from the
//! Python package registry; `.ci/run` installs it) and runs a scripted session through it
//! against the live API (`tests/generated_client/session.py`). Without the generator the
//! test fails, saying how to install it.

use std::{path::Path, process::Command};

use batch_import_test_support::repo_root;

use crate::helpers::spawn_app;

/// The generator's command (`OPENAPI_PYTHON_CLIENT` overrides it).
fn generator() -> String {
    std::env::var("OPENAPI_PYTHON_CLIENT").unwrap_or_else(|_| "openapi-python-client".into())
}

/// Runs a command to its end; panics with its output when it fails.
fn run(command: &mut Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run it ({e})"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} failed:\n{text}");
    text
}

/// Generates the client of `document` as the package `batch_import_client` under `dir`.
fn generate(document: &str, dir: &Path) -> String {
    let spec = dir.join("openapi.json");
    std::fs::write(&spec, document).unwrap();
    let generator = generator();
    if Command::new(&generator).arg("--version").output().is_err() {
        panic!(
            "{generator} not found: install it with `python3 -m pip install \
             openapi-python-client==0.29.1` (or set OPENAPI_PYTHON_CLIENT)"
        );
    }
    run(
        Command::new(&generator)
            .arg("generate")
            .arg("--path")
            .arg(&spec)
            .args(["--meta", "none", "--output-path"])
            .arg(dir.join("batch_import_client"))
            .arg("--config")
            .arg(repo_root().join("tests/generated_client/config.yaml")),
        "openapi-python-client generate",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_python_client_runs_a_whole_session() {
    let app = spawn_app().await;
    let admin = app.admin_key().await;
    let member_tenant = format!("m{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let member = app.key(&member_tenant, "member@example.com", false).await;
    let document = app
        .get_anonymous("/api/v1/openapi.json")
        .await
        .text()
        .await
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let generated = generate(&document, dir.path());
    // Every operation and schema made it into the client: the generator warns about
    // anything it had to leave out.
    assert!(
        !generated.contains("Warning") && !generated.contains("WARNING"),
        "the generator left something out:\n{generated}"
    );
    let models = dir.path().join("batch_import_client/models");
    let mut names: Vec<String> = std::fs::read_dir(&models)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // Inline schemas get names made of their place (`job_event_type_0`,
    // `…_mapping_additional_property`, `…_response_200`); the document names them all.
    for generic in [
        "type_0",
        "type_1",
        "additional_property",
        "response_200",
        "_item",
    ] {
        assert!(
            !names.iter().any(|n| n.contains(generic)),
            "a model named after its place ({generic}): {names:?}"
        );
    }

    let session = run(
        Command::new("python3")
            .arg(repo_root().join("tests/generated_client/session.py"))
            .env("PYTHONPATH", dir.path())
            .env("BASE_URL", &app.address)
            .env("ADMIN_KEY", &admin)
            .env("MEMBER_KEY", &member),
        "the generated client's session",
    );
    for step in [
        "upload",
        "events",
        "errors",
        "corrections",
        "open problem codes",
        "filters and cursor pages",
        "export round trip",
        "keys",
        "typed refusals",
    ] {
        assert!(
            session.contains(&format!("ok: {step}")),
            "{step}: {session}"
        );
    }
    assert!(session.contains("session complete"), "{session}");
}
