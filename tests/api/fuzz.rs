//! The real import engine (`import::run`, Postgres included) on mutated seed files and
//! arbitrary bytes: every data row is counted exactly once — imported + errors = original
//! = the rows an independent reference reader finds, and the error CSV lists exactly the
//! error rows — and a file that cannot be imported is refused with a message (the job's
//! failure reason), never a panic, a hang or a database error.
//!
//! 32 cases by default (a few seconds); `PROPTEST_CASES=N` runs N.

use std::{collections::HashMap, path::Path, time::Duration};

use batch_import::{
    db,
    domain::{JobKind, TenantSlug},
    import::{self, ImportError, ImportRequest, Progress, csv_source, header},
};
use batch_import_test_support::fuzz_inputs as inputs;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use uuid::Uuid;

use crate::helpers::database_server;

const KINDS: [JobKind; 3] = [
    JobKind::Opportunities,
    JobKind::Contacts,
    JobKind::SalesTargets,
];

/// Longest a case may take; an import of a few kilobytes that takes longer has hung.
const CASE_TIMEOUT: Duration = Duration::from_secs(60);

/// One generated import.
#[derive(Debug, Clone)]
struct Case {
    kind: JobKind,
    name: String,
    bytes: Vec<u8>,
    /// Map the file's first header cells to the kind's required fields, so that most
    /// files get past the header and their rows reach validation and Postgres.
    map_first_columns: bool,
    chunk_rows: usize,
    writers: usize,
}

fn case(seeds: &[(String, Vec<u8>)]) -> impl Strategy<Value = Case> + use<> {
    let file = prop_oneof![
        4 => inputs::mutated_seed(seeds, 6),
        1 => inputs::arbitrary_bytes().prop_map(|b| ("arbitrary bytes".to_owned(), b)),
    ];
    (
        proptest::sample::select(KINDS.to_vec()),
        file,
        proptest::bool::weighted(0.8),
        1usize..8,
        1usize..4,
    )
        .prop_map(
            |(kind, (name, bytes), map_first_columns, chunk_rows, writers)| Case {
                kind,
                name,
                bytes,
                map_first_columns,
                chunk_rows,
                writers,
            },
        )
}

/// A fresh database with the schema and one tenant.
async fn database() -> (sqlx::PgPool, Uuid) {
    let url = format!("{}/bi_test_{}", database_server(), Uuid::new_v4().simple());
    let pool = db::pool(&url, 8).unwrap();
    db::migrate(&url, &pool).await.unwrap();
    let slug = TenantSlug::parse("fuzz").unwrap();
    db::accounts::create_key(&pool, &slug, "fuzz@example.com", true)
        .await
        .unwrap();
    let tenant = db::accounts::tenant_id(&pool, &slug)
        .await
        .unwrap()
        .unwrap();
    (pool, tenant)
}

/// The file's first non-blank record, as the engine reads the header.
fn header_cells(path: &Path) -> Option<Vec<String>> {
    let format = csv_source::sniff(path).ok()?;
    let mut reader = csv_source::open(path, &format).ok()?;
    let mut record = csv::StringRecord::new();
    while csv_source::read_record(&mut reader, &mut record).ok()? {
        if !csv_source::is_blank(&record) {
            return Some(record.iter().map(str::to_owned).collect());
        }
    }
    None
}

/// Maps the first header cells (distinct after normalisation) to the required fields.
fn first_columns_mapping(path: &Path, kind: JobKind) -> Option<HashMap<String, String>> {
    let mut seen = Vec::new();
    let cells = header_cells(path)?.into_iter().filter(|cell| {
        let name = header::normalise(cell);
        !name.is_empty() && !seen.contains(&name) && {
            seen.push(name);
            true
        }
    });
    let required = import::fields_of(kind).iter().filter(|f| f.required);
    Some(
        cells
            .zip(required)
            .map(|(c, f)| (c, f.name.to_owned()))
            .collect(),
    )
}

/// The data rows the reference reader finds, or `None` when the sniffer refuses the file.
fn reference_rows(path: &Path, bytes: &[u8]) -> Option<usize> {
    let format = csv_source::sniff(path).ok()?;
    let text = inputs::decode(bytes, format.encoding);
    Some(inputs::reference_data_rows(&text, char::from(format.delimiter)).len())
}

/// The `Line` and `Error` cells of each row of an error CSV (its last two columns).
fn error_file_rows(path: &Path) -> Vec<(String, String)> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(|record| {
            let record = record.unwrap();
            let n = record.len();
            (record[n - 2].to_owned(), record[n - 1].to_owned())
        })
        .collect()
}

async fn check(
    pool: &sqlx::PgPool,
    tenant_id: Uuid,
    dir: &Path,
    case: Case,
) -> Result<(), TestCaseError> {
    let id = Uuid::new_v4();
    let path = dir.join(format!("{id}.csv"));
    let error_path = dir.join(format!("{id}.errors.csv"));
    std::fs::write(&path, &case.bytes).unwrap();
    let mapping = if case.map_first_columns {
        first_columns_mapping(&path, case.kind)
    } else {
        None
    };
    let expected = reference_rows(&path, &case.bytes);
    let request = ImportRequest {
        tenant_id,
        job_id: None,
        path: path.clone(),
        error_path: error_path.clone(),
        mapping,
        sheet: None,
        chunk_rows: case.chunk_rows,
        writers: case.writers,
        dry_run: false,
    };
    let result = tokio::time::timeout(
        CASE_TIMEOUT,
        import::run(case.kind, pool, request, Progress::None),
    )
    .await
    .map_err(|_| TestCaseError::fail("the import hung"))?;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(ImportError::BadFile(reason)) => {
            prop_assert!(
                reason.trim().len() > 10,
                "refused without a reason: {reason:?}"
            );
            // Words for a sales admin, not a Rust value.
            prop_assert!(
                !reason.contains("Some(") && !reason.contains(" { "),
                "refused with a debug dump: {reason:?}"
            );
            return Ok(());
        }
        Err(other) => {
            return Err(TestCaseError::fail(format!(
                "the file made the import fail with {other:?} instead of a refusal"
            )));
        }
    };
    let counts = outcome.counts;
    prop_assert!(!outcome.cancelled);
    prop_assert_eq!(
        counts.total_imported_rows + counts.total_error_rows,
        counts.total_original_rows,
        "{:?}",
        counts
    );
    prop_assert_eq!(
        Some(counts.total_original_rows as usize),
        expected,
        "original rows vs the reference reader"
    );
    prop_assert_eq!(outcome.error_file, counts.total_error_rows > 0);
    if outcome.error_file {
        let rows = error_file_rows(&error_path);
        prop_assert_eq!(
            rows.len() as i64,
            counts.total_error_rows,
            "rows in the error CSV"
        );
        for (line, error) in rows {
            prop_assert!(line.parse::<u64>().is_ok_and(|l| l >= 1), "Line {:?}", line);
            prop_assert!(
                error.trim().len() > 5,
                "an error row without a reason: {:?}",
                error
            );
        }
    }
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&error_path);
    Ok(())
}

#[test]
fn the_engine_counts_every_row_once_or_refuses_the_file_with_a_message() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (pool, tenant_id) = runtime.block_on(database());
    let dir = tempfile::tempdir().unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(32);
    let mut runner = TestRunner::new(Config {
        cases,
        // Shrinking replays imports; keep it bounded.
        max_shrink_iters: 256,
        source_file: Some(file!()),
        ..Config::default()
    });
    let seeds = inputs::seed_files();
    let result = runner.run(&case(&seeds), |case| {
        let name = case.name.clone();
        runtime
            .block_on(check(&pool, tenant_id, dir.path(), case))
            .map_err(|e| TestCaseError::fail(format!("{name}: {e}")))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

// Inputs the property found, kept as plain tests.

/// An Opportunity ID too long for Postgres to index (3,000 characters that do not
/// compress) alone in its chunk failed the whole job with a database error; it is an
/// error row, and the other rows import.
#[tokio::test]
async fn a_key_too_long_to_index_is_an_error_row_not_a_failed_job() {
    let (pool, tenant_id) = database().await;
    let dir = tempfile::tempdir().unwrap();
    let long_id = String::from_utf8(inputs::long_cell(7)).unwrap();
    let csv =
        format!("Opportunity ID,Opportunity Name\nOK-1,fine\n{long_id},too long\nOK-2,fine\n");
    let path = dir.path().join("long.csv");
    std::fs::write(&path, csv).unwrap();
    for (chunk_rows, writers) in [(1, 1), (3, 1), (3, 2)] {
        let request = ImportRequest {
            tenant_id,
            job_id: None,
            path: path.clone(),
            error_path: dir.path().join("long.errors.csv"),
            mapping: None,
            sheet: None,
            chunk_rows,
            writers,
            dry_run: false,
        };
        let outcome = import::run(JobKind::Opportunities, &pool, request, Progress::None)
            .await
            .unwrap();
        let counts = outcome.counts;
        assert_eq!(
            (
                counts.total_original_rows,
                counts.total_imported_rows,
                counts.total_error_rows
            ),
            (3, 2, 1),
            "chunk_rows {chunk_rows}, writers {writers}"
        );
        let errors = std::fs::read_to_string(dir.path().join("long.errors.csv")).unwrap();
        assert!(errors.contains("the row could not be saved"), "{errors}");
    }
}

/// A stray invalid byte after a UTF-8 BOM makes its row an error row (it was stored as
/// U+FFFD); in the header line it refuses the file with a sentence, not a debug dump.
#[tokio::test]
async fn invalid_utf8_after_a_utf8_bom_is_an_error_row_or_a_readable_refusal() {
    let (pool, tenant_id) = database().await;
    let dir = tempfile::tempdir().unwrap();
    let run = |bytes: &'static [u8]| {
        let path = dir.path().join("bom.csv");
        std::fs::write(&path, bytes).unwrap();
        let request = ImportRequest {
            tenant_id,
            job_id: None,
            path,
            error_path: dir.path().join("bom.errors.csv"),
            mapping: None,
            sheet: None,
            chunk_rows: 10,
            writers: 1,
            dry_run: false,
        };
        import::run(JobKind::Opportunities, &pool, request, Progress::None)
    };
    let outcome = run(b"\xEF\xBB\xBFOpportunity ID,Opportunity Name\nU-1,M\xFCller\nU-2,Ann\n")
        .await
        .unwrap();
    let counts = outcome.counts;
    assert_eq!(
        (
            counts.total_original_rows,
            counts.total_imported_rows,
            counts.total_error_rows
        ),
        (2, 1, 1)
    );
    let errors = std::fs::read_to_string(dir.path().join("bom.errors.csv")).unwrap();
    assert!(errors.contains("cannot be read"), "{errors}");
    let replaced: i64 =
        sqlx::query_scalar("SELECT count(*) FROM opportunities WHERE name LIKE '%\u{fffd}%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(replaced, 0);

    match run(b"\xEF\xBB\xBFOpportunity ID,Opportunity N\xE4me\nU-1,x\n").await {
        Err(ImportError::BadFile(reason)) => assert_eq!(
            reason,
            "the header line contains characters that cannot be read as UTF-8; save the file \
             as UTF-8 CSV"
        ),
        other => panic!("{other:?}"),
    }
}
