//! Every CSV written by others in tests/corpus (see its SOURCES.md) goes through the real import engine:
//! it must import (with consistent counts) or fail with a specific reason — never panic,
//! never hang, never report counts that do not add up.

use std::{collections::HashMap, path::Path};

use batch_import::import::{
    ImportError, ImportRequest, Progress, csv_source, opportunities::Opportunities, run_import,
};

use crate::helpers::spawn_app_with;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

fn corpus_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(CORPUS).to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("csv" | "tsv" | "psv" | "ssv" | "txt")
            ) {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Maps the file's first two columns to the required fields, so every readable file
/// has rows to validate and upsert.
fn first_two_columns(path: &Path) -> Option<HashMap<String, String>> {
    let format = csv_source::sniff(path).ok()?;
    let mut reader = csv_source::open(path, &format).ok()?;
    let mut header = csv::StringRecord::new();
    while csv_source::read_record(&mut reader, &mut header).ok()? {
        if !csv_source::is_blank(&header) {
            break;
        }
    }
    let names: Vec<String> = header
        .iter()
        .map(str::to_owned)
        .filter(|h| !h.trim().is_empty())
        .collect();
    let targets = ["Opportunity ID", "Opportunity Name"];
    Some(
        names
            .into_iter()
            .zip(targets)
            .map(|(h, t)| (h, t.to_owned()))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_file_imports_or_fails_with_a_reason() {
    let files = corpus_files();
    if !Path::new(CORPUS).exists() || files.is_empty() {
        panic!("the corpus is missing at {CORPUS}");
    }
    let app = spawn_app_with(|_| {}, false).await;
    let slug = batch_import::domain::TenantSlug::parse("corpus").unwrap();
    batch_import::db::accounts::create_key(&app.db, &slug, "corpus@example.com", true)
        .await
        .unwrap();
    let tenant_id = batch_import::db::accounts::tenant_id(&app.db, &slug)
        .await
        .unwrap()
        .unwrap();

    let (mut imported, mut refused) = (0, 0);
    for path in &files {
        let request = ImportRequest {
            tenant_id,
            job_id: None,
            path: path.clone(),
            error_path: app.storage.path().join("corpus-errors.csv"),
            mapping: first_two_columns(path),
            sheet: None,
            chunk_rows: 50,
            writers: 2,
            dry_run: false,
        };
        let name = path.strip_prefix(CORPUS).unwrap().display().to_string();
        match run_import::<Opportunities>(&app.db, request, Progress::None).await {
            Ok(outcome) => {
                let c = outcome.counts;
                assert_eq!(
                    c.total_imported_rows + c.total_error_rows,
                    c.total_original_rows,
                    "{name}"
                );
                assert_eq!(outcome.error_file, c.total_error_rows > 0, "{name}");
                println!(
                    "{name}: {} rows, {} imported, {} errors",
                    c.total_original_rows, c.total_imported_rows, c.total_error_rows
                );
                imported += 1;
            }
            Err(ImportError::BadFile(reason)) => {
                assert!(
                    reason.len() > 10,
                    "{name}: a specific reason, got {reason:?}"
                );
                println!("{name}: refused: {reason}");
                refused += 1;
            }
            Err(other) => panic!("{name}: unexpected failure {other}"),
        }
    }
    println!("{imported} imported, {refused} refused of {}", files.len());
    assert!(imported > refused, "most of the corpus is readable CSV");
}
