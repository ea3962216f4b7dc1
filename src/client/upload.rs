//! `batch-import upload`: stream the file to the API with a progress bar of the bytes
//! sent, follow the job, save the failed rows next to the file, exit with the outcome.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::ExitCode,
};

use futures::StreamExt;
use reqwest::multipart::{Form, Part};
use tokio_util::io::ReaderStream;

use super::{
    ApiClient, ClientError, Job, UploadArgs, exit_code,
    follow::follow,
    output::{self, Mode},
    progress::Bars,
};

/// Bytes read from the file at a time (and the upload bar's step).
const CHUNK: usize = 64 * 1024;

/// Runs `upload`; the exit code says how the job ended (see [`super::exit_code`]).
pub async fn upload(args: UploadArgs) -> Result<ExitCode, ClientError> {
    let client = ApiClient::new(&args.server)?;
    if let Some(mapping) = &args.mapping {
        // Checked here for a clear message before any byte is sent; the API checks the fields.
        serde_json::from_str::<BTreeMap<String, String>>(mapping)
            .map_err(ClientError::InvalidMapping)?;
    }
    let mode = Mode::detect(args.json);
    let job = send_file(&client, &args, mode.bars()).await?;
    if args.no_wait {
        match mode {
            Mode::Json => output::print_json(&job),
            _ => print!("{}", output::accepted(&job)),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if mode == Mode::Plain {
        eprintln!("uploaded {} as job {}", args.file.display(), job.id);
    }
    follow_to_the_end(&client, job, mode, &error_csv_path(&args.file)).await
}

/// Follows an accepted job to its end (Ctrl-C leaves it running), saves its failed rows
/// as `errors` (an error CSV), prints the outcome; the exit code says how the job ended
/// (see [`super::exit_code`]). Shared by `upload`, `fix` and `revert`.
pub(crate) async fn follow_to_the_end(
    client: &ApiClient,
    job: Job,
    mode: Mode,
    errors: &Path,
) -> Result<ExitCode, ClientError> {
    let id = job.id;
    let mut progress = mode.bars().job();
    let followed = tokio::select! {
        followed = follow(client, job, &mut progress, mode) => followed,
        // Stopping the client does not stop the job; say how to find it again.
        _ = tokio::signal::ctrl_c() => Err(ClientError::Interrupted { id }),
    };
    progress.finish();
    let job = followed?;

    let saved = if job.total_error_rows.unwrap_or(0) > 0 {
        client.download_error_csv(job.id, errors).await?;
        Some(errors)
    } else {
        None
    };
    match mode {
        Mode::Json => output::print_json(&job),
        _ => print!("{}", output::outcome(&job, saved)),
    }
    if mode != Mode::Json {
        eprintln!("{}", summary(&job, saved));
    }
    Ok(ExitCode::from(exit_code(&job)))
}

/// `FILE.errors.csv`, beside the file (as `batch-import import` names it).
pub(crate) fn error_csv_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".errors.csv");
    PathBuf::from(name)
}

/// The media type of the file, from its content: a workbook's, or CSV.
fn media_type(path: &std::path::Path) -> std::io::Result<&'static str> {
    use crate::import::workbook::{WorkbookFormat, detect};
    Ok(match detect(path)? {
        Some(WorkbookFormat::Xlsx) => {
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        }
        Some(WorkbookFormat::Xls) => "application/vnd.ms-excel",
        Some(WorkbookFormat::Ods) => "application/vnd.oasis.opendocument.spreadsheet",
        None => "text/csv",
    })
}

/// Streams the file as the multipart field `file` (`--mapping`, `--name` and `--sheet` as
/// the fields `mapping`, `name` and `sheet`),
/// advancing the bar as the body is read; returns the accepted job.
async fn send_file(client: &ApiClient, args: &UploadArgs, bars: Bars) -> Result<Job, ClientError> {
    let read_error = |source| ClientError::File {
        action: "could not read",
        path: args.file.clone(),
        source,
    };
    let file = tokio::fs::File::open(&args.file)
        .await
        .map_err(read_error)?;
    let metadata = file.metadata().await.map_err(read_error)?;
    if !metadata.is_file() {
        return Err(read_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let size = metadata.len();
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload.csv".to_owned());

    let bar = bars.upload(size);
    let counted = bar.clone();
    let body = ReaderStream::with_capacity(file, CHUNK).inspect(move |chunk| {
        if let Ok(chunk) = chunk {
            counted.inc(chunk.len() as u64);
        }
    });
    // With the length, the multipart body has a Content-Length: the API refuses a file over
    // its limit before reading it, and the bar's total is exact.
    let mime = media_type(&args.file).map_err(read_error)?;
    let part = Part::stream_with_length(reqwest::Body::wrap_stream(body), size)
        .file_name(name)
        .mime_str(mime)
        .expect("a valid MIME type");
    let mut form = Form::new();
    if let Some(sheet) = &args.sheet {
        form = form.text("sheet", sheet.clone());
    }
    if let Some(mapping) = &args.mapping {
        form = form.text("mapping", mapping.clone());
    }
    if let Some(name) = &args.name {
        form = form.text("name", name.clone());
    }
    let form = form.part("file", part);
    let accepted = client
        .upload(args.kind, form, args.send_error_email, args.validate_only)
        .await;
    bar.finish_and_clear();
    accepted
}

/// One sentence for people, on stderr.
fn summary(job: &Job, saved: Option<&Path>) -> String {
    use crate::domain::JobState;
    if let Some(reverted) = job.reverts_job_id {
        return super::revert::summary(job, reverted, saved);
    }
    let imported = job.total_imported_rows.unwrap_or(0);
    let total = job.total_original_rows.unwrap_or(0);
    let failed = job.total_error_rows.unwrap_or(0);
    let saved = saved.map_or_else(String::new, |p| {
        format!("; the failed rows are in {}", p.display())
    });
    match job.state {
        JobState::Completed if job.dry_run => format!(
            "checked {total} rows, nothing stored: {imported} would be imported ({} created, \
             {} updated, {} unchanged), {failed} failed{saved}",
            job.created_rows.unwrap_or(0),
            job.updated_rows.unwrap_or(0),
            job.unchanged_rows.unwrap_or(0),
        ),
        JobState::Completed if failed == 0 => format!("imported all {total} rows"),
        JobState::Completed => {
            format!("imported {imported} of {total} rows, {failed} failed{saved}")
        }
        JobState::Failed => format!(
            "the job failed: {}",
            job.error.as_deref().unwrap_or("no reason given")
        ),
        state => format!(
            "the job ended {} after {imported} rows were imported{saved}",
            state.as_str()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_csv_goes_next_to_the_file() {
        assert_eq!(
            error_csv_path(Path::new("data/opps.csv")),
            PathBuf::from("data/opps.csv.errors.csv")
        );
    }
}
